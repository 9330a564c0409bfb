/// A finetune as the simulator keeps it: its current policy and step, and its checkpoints.
struct FinetuneRecord: Sendable {
    struct CheckpointRecord: Sendable {
        let checkpointID: String
        let step: Int
        let createdAtMs: Int64
        var updatedAtMs: Int64
        var deleted: Bool
        /// Nil: never expires.
        let expiresAtMs: Int64?
        /// The policy as it was at `step`.
        let policy: Policy

        /// Saved, not deleted, and not expired at `now`.
        func isAvailable(at now: Int64) -> Bool { !deleted && !isExpired(at: now) }

        func isExpired(at now: Int64) -> Bool { expiresAtMs.map { $0 <= now } ?? false }
    }

    let finetuneID: String
    let name: String
    let rank: Int
    /// Position in creation order, for listing oldest first.
    let creationIndex: Int
    let createdAtMs: Int64
    var updatedAtMs: Int64
    var deleted = false
    var step = 0
    var policy: Policy
    var checkpoints: [Int: CheckpointRecord] = [:]
    var trainStepsApplied = 0
    var doubleApplications = 0
    /// Metrics clients pushed, by step, then name.
    var metrics: [Int: [String: Double]] = [:]
    var metricPushes = 0

    var json: SimJSON {
        .object([("finetune_id", .string(finetuneID)), ("name", .string(name)), ("rank", .int(rank)),
                 ("created_at_ms", .number(String(createdAtMs))), ("updated_at_ms", .number(String(updatedAtMs)))])
    }

    /// A checkpoint object; live answers add `expires_at_ms` (null when it never expires).
    func checkpointJSON(_ checkpoint: CheckpointRecord, live: Bool) -> SimJSON {
        var members: [(String, SimJSON)] = [
            ("checkpoint_id", .string(checkpoint.checkpointID)), ("finetune_id", .string(finetuneID)),
            ("step", .int(checkpoint.step)), ("created_at_ms", .number(String(checkpoint.createdAtMs))),
            ("updated_at_ms", .number(String(checkpoint.updatedAtMs)))]
        if live { members.append(("expires_at_ms", checkpoint.expiresAtMs.map { .number(String($0)) } ?? .null)) }
        return .object(members)
    }

    var summary: SimulatorStats.FinetuneSummary {
        SimulatorStats.FinetuneSummary(
            finetuneID: finetuneID, name: name, rank: rank, step: step, deleted: deleted,
            trainStepsApplied: trainStepsApplied, doubleApplications: doubleApplications,
            checkpoints: checkpoints.values.filter { !$0.deleted }.map(\.step).sorted(),
            deletedCheckpoints: checkpoints.values.filter(\.deleted).map(\.step).sorted())
    }
}
