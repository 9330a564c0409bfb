import Foundation
import Logging
import MoondreamAPI
import MoontuneStore

/// A job's end under `run` and `start`, told as `serve` tells it (issue 21): the same event, from
/// the config recorded at the job's admission, put in the same outbox, signed the same way.
///
/// `run` then tries to deliver it for a bounded time (`within`, with the outbox's backoff) before
/// it exits; what is still undelivered stays in the outbox, and the next `serve` on the database
/// delivers it. A receiver that is down never changes how the job ended.
public enum JobEndNotice {
    public static func tell(jobName: String, databasePath: String, environment: [String: String], logger: Logger,
                            within: Duration = .seconds(15)) async {
        guard let store = try? await ProgressStore.shared(path: databasePath), let job = try? await store.job(named: jobName),
              let id = job.id else { return }
        await WebhookOutbox.enqueue(job, store: store, serveWebhook: nil, logger: logger)
        let outbox = WebhookOutbox(store: store, environment: environment, logger: logger)
        let transport = AsyncHTTPTransport(maxConnections: 2)
        let clock = ContinuousClock()
        let deadline = clock.now + within
        while clock.now < deadline {
            guard let pending = try? await store.pendingNotifications(jobID: id), let next = pending.map(\.nextAttemptAtMs).min() else {
                break
            }
            let now = ProgressStore.nowMs()
            if next > now {
                let wait = Duration.milliseconds(next - now)
                if clock.now + wait > deadline { break }
                try? await Task.sleep(for: wait)
                continue
            }
            for entry in pending where entry.nextAttemptAtMs <= now {
                await outbox.deliver(entry, transport: transport)
            }
        }
        if let left = try? await store.pendingNotifications(jobID: id), !left.isEmpty {
            logger.notice("the job's webhook was not delivered yet; it stays in the outbox, and `moontune serve` on this database delivers it",
                          metadata: ["job": "\(jobName)", "pending": "\(left.count)"])
        }
        await transport.shutdown()
    }
}
