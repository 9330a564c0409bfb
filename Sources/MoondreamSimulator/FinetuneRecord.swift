/// A finetune as the simulator keeps it: its current policy and step, and its checkpoints.
struct FinetuneRecord: Sendable {
    struct CheckpointRecord: Sendable {
        let checkpointID: String
        let step: Int
        let createdAtMs: Int64
        var updatedAtMs: Int64
        var deleted: Bool
        /// The policy as it was at `step`.
        let policy: Policy
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

    var json: JSONValue {
        .object([("finetune_id", .string(finetuneID)), ("name", .string(name)), ("rank", .int(rank)),
                 ("created_at_ms", .number(String(createdAtMs))), ("updated_at_ms", .number(String(updatedAtMs)))])
    }

    func checkpointJSON(_ checkpoint: CheckpointRecord) -> JSONValue {
        .object([("checkpoint_id", .string(checkpoint.checkpointID)), ("finetune_id", .string(finetuneID)),
                 ("step", .int(checkpoint.step)), ("created_at_ms", .number(String(checkpoint.createdAtMs))),
                 ("updated_at_ms", .number(String(checkpoint.updatedAtMs)))])
    }

    var summary: SimulatorStats.FinetuneSummary {
        SimulatorStats.FinetuneSummary(
            finetuneID: finetuneID, name: name, rank: rank, step: step, deleted: deleted,
            trainStepsApplied: trainStepsApplied, doubleApplications: doubleApplications,
            checkpoints: checkpoints.values.filter { !$0.deleted }.map(\.step).sorted(),
            deletedCheckpoints: checkpoints.values.filter(\.deleted).map(\.step).sorted())
    }
}
