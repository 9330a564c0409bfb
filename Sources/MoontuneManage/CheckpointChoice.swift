import MoontuneStore
import MoontuneReport

/// Which saved checkpoint a command means: `--step S`, `--best` or `--latest`.
///
/// Decided from the server's list of saved checkpoints (the truth for inference) and the local
/// record (for eval rewards and for saying why a step is not there).
package enum CheckpointChoice: Equatable, Sendable {
    case step(Int)
    case best
    case latest

    /// The step to use, or a failure that explains what is available.
    package func resolve(job: String, serverSteps: [Int], record: [CheckpointRecord], evals: [Int: Double]) throws -> Int {
        let saved = serverSteps.sorted()
        let available = saved.isEmpty ? "it has no saved checkpoint" : "saved steps: " + saved.map(String.init).joined(separator: ", ")
        switch self {
        case .step(let step):
            if saved.contains(step) { return step }
            if let recorded = record.first(where: { $0.stepOnServer == step }), let deleted = recorded.deletedAtMs {
                throw ManageFailure("the checkpoint of job \(job) at step \(step) was deleted \(StatusText.date(deleted)); \(available)")
            }
            throw ManageFailure("job \(job) has no saved checkpoint at step \(step); \(available)")
        case .latest:
            guard let latest = saved.last else { throw ManageFailure("job \(job): \(available)") }
            return latest
        case .best:
            // Evals are recorded by the record's step; after skipped steps a checkpoint's server step differs.
            let onServer = Dictionary(record.map { ($0.step, $0.stepOnServer) }, uniquingKeysWith: { a, _ in a })
            let byServer = Dictionary(evals.map { (onServer[$0.key] ?? $0.key, $0.value) }, uniquingKeysWith: max)
            let scored = saved.compactMap { step in byServer[step].map { (step, $0) } }
            // The best eval reward; the earliest step among equals, as retention's keep_best.
            guard let best = scored.max(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }) else {
                throw ManageFailure("job \(job) has no eval recorded at a saved checkpoint, so there is no best one; "
                    + "use --step or --latest (\(available))")
            }
            return best.0
        }
    }
}
