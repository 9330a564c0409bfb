import Crypto
import Foundation
import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneLoop
import MoontuneStore
import NIOCore
import ServiceLifecycle

/// Webhooks of `serve`: a job's end (completed, failed, stopped, budget reached, early stop) is
/// put in the outbox table, and this service POSTs what is due, at least once: a failed delivery
/// is tried again with exponential backoff (0.5 s doubling, at most 5 min), across restarts (the
/// outbox is in the database). Delivery runs apart from the jobs: it never blocks or fails one.
///
/// With `notify.secret_env` naming a variable that holds a secret, the body is signed:
/// `X-Moontune-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
struct WebhookOutbox: Service {
    let store: ProgressStore
    let environment: [String: String]
    let logger: Logger
    var pollInterval: Duration = .milliseconds(250)

    static let maxBackoffMs: Int64 = 300_000

    func run() async throws {
        let transport = AsyncHTTPTransport(maxConnections: 4)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                for entry in try await store.dueNotifications(now: ProgressStore.nowMs()) {
                    if Task.isShuttingDownGracefully { break }
                    await deliver(entry, transport: transport)
                }
            } catch {
                logger.error("cannot read the webhook outbox", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: pollInterval)
        }
        // On the way out, the ends of the jobs just stopped get one attempt; what fails stays in
        // the outbox for the next start.
        if !Task.isCancelled, let due = try? await store.dueNotifications(now: ProgressStore.nowMs()) {
            for entry in due { await deliver(entry, transport: transport) }
        }
        await transport.shutdown()
    }

    func deliver(_ entry: OutboxEntry, transport: AsyncHTTPTransport) async {
        var headers = [("Content-Type", "application/json"), ("User-Agent", "moontune"), ("X-Moontune-Event", entry.event),
                       ("X-Moontune-Delivery", "\(entry.id)")]
        if let name = entry.secretEnv, let secret = environment[name], !secret.isEmpty {
            headers.append(("X-Moontune-Signature", Self.signature(body: entry.body, secret: secret)))
        }
        let request = HTTPRequestSpec(method: "POST", url: entry.url, headers: headers, body: ByteBuffer(string: entry.body),
                                      timeout: .seconds(10), maxResponseBytes: 64 << 10)
        let now = ProgressStore.nowMs()
        let failure: String
        do {
            let response = try await transport.execute(request)
            if (200..<300).contains(response.status) {
                try? await store.markNotificationDelivered(id: entry.id, now: now)
                logger.info("webhook delivered", metadata: ["event": "\(entry.event)", "attempts": "\(entry.attempts + 1)"])
                return
            }
            failure = "HTTP \(response.status)"
        } catch {
            failure = error.detail
        }
        let delay = min(Self.maxBackoffMs, 500 << min(entry.attempts, 20))
        try? await store.markNotificationFailed(id: entry.id, error: failure, nextAttemptAtMs: now + delay)
        logger.notice("webhook not delivered; trying again", metadata: ["event": "\(entry.event)", "error": "\(failure)",
                                                                        "next_in_ms": "\(delay)"])
    }

    /// `sha256=` and the hex HMAC-SHA256 of the body under the secret.
    static func signature(body: String, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// The event a job's end makes, or nil (a job still running, queued).
    static func event(for job: JobRecord) -> String? {
        switch (job.state, job.stopReason) {
        case (.completed, "early_stop"): "early_stop"
        case (.completed, _): "completed"
        case (.failed, _): "failed"
        case (.stopped, "budget"): "budget_reached"
        case (.stopped, _): "stopped"
        default: nil
        }
    }

    /// Puts the job's end in the outbox for its own webhook and serve's (`--webhook-url`).
    static func enqueue(_ job: JobRecord, store: ProgressStore, serveWebhook: String?, logger: Logger) async {
        guard let id = job.id, let event = event(for: job) else { return }
        var targets: [(url: String, secretEnv: String?)] = []
        // The webhook of the config recorded at the job's admission, never the file as edited since.
        if let notify = JobAdmission.recordedConfig(of: job)?.notify {
            targets.append((notify.webhookURL, notify.secretEnv))
        }
        if let serveWebhook, !targets.contains(where: { $0.url == serveWebhook }) { targets.append((serveWebhook, nil)) }
        guard !targets.isEmpty else { return }
        let step = (try? await store.lastAppliedStep(jobID: id)) ?? 0
        let body: [String: Any?] = [
            "event": event, "job": job.name, "finetune_id": job.finetuneID, "state": job.state.rawValue, "step": step,
            "total_steps": job.totalSteps, "stop_reason": job.stopReason, "error": job.lastError, "at_ms": ProgressStore.nowMs(),
        ]
        let object = body.mapValues { $0 ?? NSNull() }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        do {
            try await store.enqueueNotifications(jobID: id, event: event, body: String(decoding: data, as: UTF8.self), targets: targets,
                                                 now: ProgressStore.nowMs())
        } catch {
            logger.error("cannot queue the webhook", metadata: ["job": "\(job.name)", "error": "\(error)"])
        }
    }
}

private extension Error {
    var detail: String {
        if let transport = self as? TransportError { return transport.detail }
        return String(describing: self)
    }
}
