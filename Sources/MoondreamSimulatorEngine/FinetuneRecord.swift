import MoontuneJSON
/// A finetune as the simulator keeps it: its current policy and step, and its checkpoints.
package struct FinetuneRecord: Sendable {
    package struct CheckpointRecord: Sendable {
        package let checkpointID: String
        package let step: Int
        package let createdAtMs: Int64
        package var updatedAtMs: Int64
        package var deleted: Bool
        /// Nil: never expires.
        package let expiresAtMs: Int64?
        /// The policy as it was at `step`.
        package let policy: Policy

        /// Saved, not deleted, and not expired at `now`.
        package func isAvailable(at now: Int64) -> Bool { !deleted && !isExpired(at: now) }

        package func isExpired(at now: Int64) -> Bool { expiresAtMs.map { $0 <= now } ?? false }
    }

    package let finetuneID: String
    package let name: String
    package let rank: Int
    /// Position in creation order, for listing oldest first.
    package let creationIndex: Int
    package let createdAtMs: Int64
    package var updatedAtMs: Int64
    package var deleted = false
    package var step = 0
    package var policy: Policy
    package var checkpoints: [Int: CheckpointRecord] = [:]
    package var trainStepsApplied = 0
    package var doubleApplications = 0
    /// Metrics clients pushed, by step, then name.
    package var metrics: [Int: [String: Double]] = [:]
    package var metricPushes = 0

    package var json: JSONValue {
        .members([("finetune_id", .string(finetuneID)), ("name", .string(name)), ("rank", .int(rank)),
                 ("created_at_ms", .int(Int(createdAtMs))), ("updated_at_ms", .int(Int(updatedAtMs)))])
    }

    /// A checkpoint object; live answers add `expires_at_ms` (null when it never expires).
    package func checkpointJSON(_ checkpoint: CheckpointRecord, live: Bool) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("checkpoint_id", .string(checkpoint.checkpointID)), ("finetune_id", .string(finetuneID)),
            ("step", .int(checkpoint.step)), ("created_at_ms", .int(Int(checkpoint.createdAtMs))),
            ("updated_at_ms", .int(Int(checkpoint.updatedAtMs)))]
        if live { members.append(("expires_at_ms", checkpoint.expiresAtMs.map { .int(Int($0)) } ?? .null)) }
        return .members(members)
    }

    package var summary: SimulatorStats.FinetuneSummary {
        SimulatorStats.FinetuneSummary(
            finetuneID: finetuneID, name: name, rank: rank, step: step, deleted: deleted,
            trainStepsApplied: trainStepsApplied, doubleApplications: doubleApplications,
            checkpoints: checkpoints.values.filter { !$0.deleted }.map(\.step).sorted(),
            deletedCheckpoints: checkpoints.values.filter(\.deleted).map(\.step).sorted())
    }
}
