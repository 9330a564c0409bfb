import MoontuneStore

/// The store methods the training loop uses: the seam between the loop and SQLite.
/// `ProgressStore` is the live one; the loop's tests use an in-memory fake that can "crash"
/// (keep only what was committed) between any two writes.
///
/// Each write is atomic, as the store's transactions are: a crash leaves it done or not done.
public protocol ProgressRecording: Sendable {
    func job(id: Int64) async throws -> JobRecord?
    func setFinetuneID(jobID: Int64, finetuneID: String, now: Int64) async throws
    func lastAppliedStep(jobID: Int64) async throws -> Int
    func pendingIntent(jobID: Int64) async throws -> StepRecord?
    func checkpoints(jobID: Int64) async throws -> [CheckpointRecord]
    func evals(jobID: Int64) async throws -> [EvalRecord]

    func recordStepIntent(jobID: Int64, k: Int, exampleIDs: String, mode: StepMode, lr: Double?, groups: StepFigures?,
                          now: Int64) async throws
    func markStepApplied(jobID: Int64, k: Int, metrics: StepMetrics, reconciled: Bool, now: Int64) async throws
    func discardStepIntent(jobID: Int64, k: Int) async throws
    /// Drops step `k`'s intent, concluded "never landed" by waiting, with the final check it calls
    /// for (issue 20), in one write.
    func concludeStepNotLanded(jobID: Int64, k: Int, checkAfterMs: Int64) async throws
    /// The final check found the server where the record says.
    func clearLateLandingCheck(jobID: Int64) async throws
    /// Removes every step record after `step`; returns how many went.
    func rewindSteps(jobID: Int64, after step: Int) async throws -> Int
    func noteServerStep(jobID: Int64, step: Int) async throws
    /// `train.skip_constant_groups`: a step without signal, recorded done in one write.
    func recordSkippedStep(jobID: Int64, k: Int, exampleIDs: String, figures: StepFigures, now: Int64) async throws
    func skippedSteps(jobID: Int64) async throws -> [Int]
    func extraGroupsTried(jobID: Int64, groupsPerStep: Int) async throws -> Int

    func recordCheckpoint(jobID: Int64, step: Int, checkpointID: String, kind: CheckpointKind, expiresAtMs: Int64?,
                          serverStep: Int?, now: Int64) async throws
    func markCheckpointDeleting(jobID: Int64, step: Int, now: Int64) async throws
    func markCheckpointDeleted(jobID: Int64, step: Int, now: Int64) async throws
    /// The eval and its examples, in one transaction: recorded whole or not at all.
    func recordEval(_ eval: EvalRecord, examples: [EvalExampleRecord]) async throws

    func recordEvent(jobID: Int64, kind: String, step: Int?, message: String, dataJSON: String?, now: Int64) async throws
    func recordWaiting(jobID: Int64, _ wait: WaitRecord?, lastError: String?, retriesOutsideSteps: Int, now: Int64) async throws
    /// The graders' mean scores of step `k` (issue 24), after its intent.
    func recordGraderScores(jobID: Int64, k: Int, means: [String: Double]) async throws
    func heartbeat(jobID: Int64, now: Int64) async throws
    func finish(jobID: Int64, state: JobState, error: String?, stopReason: String?, now: Int64) async throws

    // Issue 25 (sweeps): defaults without sweeps in JobRunner+Pruning.swift.
    func sweepMembership(jobID: Int64) async throws -> SweepMembership?
    func pruneDecisions(jobID: Int64) async throws -> [PruneDecisionRecord]
    func decidePruning(jobID: Int64, rung: Int, now: Int64,
                       decide: @escaping @Sendable (PruneCohort, PruneRule) -> PruneVerdict) async throws -> PruneDecisionRecord?
}

extension ProgressRecording {
    /// Issue 24: the graders' mean scores of step `k`. A no-op for recorders without them.
    public func recordGraderScores(jobID: Int64, k: Int, means: [String: Double]) async throws {}
}

extension ProgressStore: ProgressRecording {}

/// Where the loop reads the time and waits: the wall clock live, virtual time in tests.
public protocol LoopClock: Sendable {
    /// Milliseconds since the epoch, as the store records times.
    func nowMs() -> Int64
    /// Waits `duration`; throws `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The wall clock and `Task.sleep`.
public struct SystemLoopClock: LoopClock {
    public init() {}
    public func nowMs() -> Int64 { ProgressStore.nowMs() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
