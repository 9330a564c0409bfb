import MoondreamAPI

/// The calls the training loop makes to the tuning API: the seam between the loop's decisions
/// and the network. `MoondreamClient` is the live one; the loop's tests use an in-memory fake
/// that models a finetune's step, so every exactly-once path runs without a socket.
///
/// Every call has the client's meaning: errors are `APIError`, and a train_step whose outcome is
/// unknown throws one with `isAmbiguous`.
public protocol TuningService: Sendable {
    /// Creates the finetune, or returns the one of that name (idempotent by name).
    func createFinetune(name: String, rank: Int) async throws -> String
    func finetune(id: String) async throws -> Finetune
    /// A training step's rollouts, from a request encoded ahead of time.
    func rollouts(_ request: EncodedRolloutsRequest) async throws -> RolloutsResponse
    /// An eval rollout.
    func rollouts(_ request: RolloutsRequest) async throws -> RolloutsResponse
    /// Never retried once sent; `timeout` bounds the wait for its answer.
    func trainStep(finetuneID: String, groups: [TrainGroup], lr: Double?, timeout: Duration?) async throws -> TrainStepResult
    /// Saves (idempotently) a checkpoint at the finetune's current step, which it reports.
    func saveCheckpoint(finetuneID: String) async throws -> Checkpoint
    /// Every checkpoint of the finetune, all pages.
    func checkpoints(finetuneID: String) async throws -> [Checkpoint]
    func deleteCheckpoint(finetuneID: String, step: Int) async throws
    func logMetrics(finetuneID: String, step: Int, metrics: [String: Double]) async throws -> Int
}

extension MoondreamClient: TuningService {
    public func checkpoints(finetuneID: String) async throws -> [Checkpoint] {
        try await allCheckpoints(finetuneID: finetuneID).collect()
    }
}
