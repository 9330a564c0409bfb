import Logging
import MoondreamAPI
import MoontuneDecisions
import Synchronization

/// Step and eval metrics for the finetune's page in the Moondream console
/// (`POST /tuning/finetunes/:id/metrics`, live service), sent in the background.
///
/// Best effort by design: queueing never waits (a bounded buffer drops the oldest), a failed push
/// is tried a few times by the client and then dropped, and a 404 — a server without the endpoint,
/// such as the reference — turns pushing off for the run with one notice. Training never waits for
/// a push and never fails because of one.
final class MetricsPushes: Sendable {
    struct Push: Sendable {
        var step: Int
        var metrics: [String: Double]
    }

    private let enabled: Bool
    private let stream: AsyncStream<Push>
    private let continuation: AsyncStream<Push>.Continuation
    private let sent = Mutex(0)

    init(enabled: Bool, buffer: Int = 256) {
        self.enabled = enabled
        (stream, continuation) = AsyncStream.makeStream(of: Push.self, bufferingPolicy: .bufferingNewest(buffer))
        if !enabled { continuation.finish() }
    }

    /// How many pushes the server accepted, for tests and the log.
    var accepted: Int { sent.withLock { $0 } }

    func stepApplied(step: Int, statistics: StepStatistics) {
        enqueue(step: step, Self.metrics(step: statistics))
    }

    func evalRecorded(step: Int, summary: EvalSummary) {
        enqueue(step: step, Self.metrics(eval: summary))
    }

    /// No more pushes: `deliver` returns once the queue is empty.
    func finish() {
        continuation.finish()
    }

    private func enqueue(step: Int, _ metrics: [String: Double]) {
        guard enabled else { return }
        let valid = metrics.filter { MetricName.isValid($0.key) && $0.value.isFinite }
        guard !valid.isEmpty else { return }
        // Never more than the service takes in one call.
        let names = valid.keys.sorted().prefix(MetricName.maxPerCall)
        continuation.yield(Push(step: step, metrics: valid.filter { names.contains($0.key) }))
    }

    /// Sends the queued pushes one at a time until `finish()` (or cancellation).
    func deliver(client: any TuningService, finetuneID: String, observer: any RunObserver, logger: Logger) async {
        var off = false
        for await push in stream {
            if off || Task.isCancelled { continue }
            do {
                _ = try await client.logMetrics(finetuneID: finetuneID, step: push.step, metrics: push.metrics)
                sent.withLock { $0 += 1 }
            } catch let error as APIError where error.kind == .notFound {
                off = true
                observer.record(.notice("metrics are not pushed for the rest of this run: the server has no metrics endpoint "
                    + "(\(error.endpoint) answered 404); set api.push_metrics to false to stop trying"))
            } catch {
                logger.info("a metrics push was dropped", metadata: ["step": "\(push.step)", "error": "\(error)"])
            }
        }
    }

    /// `train/reward_mean`, `train/point/reward_mean`, ...
    static func metrics(step statistics: StepStatistics) -> [String: Double] {
        var metrics: [String: Double] = [:]
        if let rewards = statistics.rewards {
            metrics["train/reward_mean"] = rewards.mean
            metrics["train/reward_std"] = rewards.std
            metrics["train/constant_group_fraction"] = statistics.constantGroupFraction
        }
        for (skill, summary) in statistics.perSkill { metrics["train/\(skill)/reward_mean"] = summary.mean }
        if let wall = statistics.wallMs { metrics["train/step_seconds"] = wall / 1000 }
        if let train = statistics.trainLatencyMs { metrics["train/train_step_seconds"] = train / 1000 }
        metrics["train/retries"] = Double(statistics.totalRetries)
        return metrics
    }

    /// `eval/reward_mean`, `eval/point/reward_mean`, and each skill's metrics: `eval/query/accuracy`,
    /// `eval/detect/precision`, `eval/detect/recall`, `eval/detect/f1`, `eval/point/mean_distance`,
    /// `eval/point/hit_rate`.
    static func metrics(eval summary: EvalSummary) -> [String: Double] {
        var metrics = ["eval/reward_mean": summary.rewardMean, "eval/examples": Double(summary.count)]
        for (skill, entry) in summary.perSkill {
            metrics["eval/\(skill)/reward_mean"] = entry.mean
            let figures = entry.metrics
            for (name, value) in [("accuracy", figures.accuracy), ("precision", figures.precision), ("recall", figures.recall),
                                  ("f1", figures.f1), ("mean_distance", figures.meanDistance), ("hit_rate", figures.hitRate)] {
                if let value { metrics["eval/\(skill)/\(name)"] = value }
            }
        }
        return metrics
    }
}
