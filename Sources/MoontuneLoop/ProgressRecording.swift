import MoontuneDecisions
import MoontuneStore

/// The store methods the training loop uses: the seam between the loop and SQLite.
/// `ProgressStore` is the live one; the loop's tests use an in-memory fake that can "crash"
/// (keep only what was committed) between any two writes.
///
/// Each write is atomic, as the store's transactions are: a crash leaves it done or not done.
/// Progress itself is written only as facts (`commit`); the other writes are figures, events
/// and the job's own state.
public protocol ProgressRecording: Sendable {
    func job(id: Int64) async throws -> JobRecord?
    func setFinetuneID(jobID: Int64, finetuneID: String, now: Int64) async throws
    func lastAppliedStep(jobID: Int64) async throws -> Int
    func pendingIntent(jobID: Int64) async throws -> StepRecord?
    func checkpoints(jobID: Int64) async throws -> [CheckpointRecord]
    func evals(jobID: Int64) async throws -> [EvalRecord]

    /// Writes one progress fact in one transaction (`ProgressLedger.commit` is the only caller):
    /// a crash leaves it written or not.
    func commit(jobID: Int64, _ fact: ProgressFact, now: Int64) async throws
    func noteServerStep(jobID: Int64, step: Int) async throws
    func skippedSteps(jobID: Int64) async throws -> [Int]
    func extraGroupsTried(jobID: Int64, groupsPerStep: Int) async throws -> Int

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

/// The store's progress writes, each one transaction: what `commit` is made of. The live store
/// and the loop tests' fake both have them; the loop sees only `commit`.
public protocol ProgressFactWriting: Sendable {
    func recordStepIntent(jobID: Int64, k: Int, exampleIDs: String, mode: StepMode, lr: Double?, groups: StepFigures?,
                          now: Int64) async throws
    func markStepApplied(jobID: Int64, k: Int, metrics: StepMetrics, reconciled: Bool, now: Int64) async throws
    func recordSkippedStep(jobID: Int64, k: Int, exampleIDs: String, figures: StepFigures, now: Int64) async throws
    func discardStepIntent(jobID: Int64, k: Int) async throws
    /// Drops step `k`'s intent, concluded "never landed" by waiting, with the final check it calls
    /// for (issue 20), in one write.
    func concludeStepNotLanded(jobID: Int64, k: Int, checkAfterMs: Int64) async throws
    func clearLateLandingCheck(jobID: Int64) async throws
    func recordCheckpoint(jobID: Int64, step: Int, checkpointID: String, kind: CheckpointKind, expiresAtMs: Int64?,
                          serverStep: Int?, now: Int64) async throws
    func markCheckpointDeleting(jobID: Int64, step: Int, now: Int64) async throws
    func markCheckpointDeleted(jobID: Int64, step: Int, now: Int64) async throws
    /// The eval and its examples, in one transaction: recorded whole or not at all.
    func recordEval(_ eval: EvalRecord, examples: [EvalExampleRecord]) async throws
    /// Removes every step record after `step` (a pending intent with them) and the evals after
    /// it; returns how many steps went.
    func rewindSteps(jobID: Int64, after step: Int) async throws -> Int
}

extension ProgressFactWriting {
    /// Each fact is one of the writes: a crash leaves it done or not.
    public func commit(jobID: Int64, _ fact: ProgressFact, now: Int64) async throws {
        switch fact {
        case .intentRecorded(let intent):
            try await recordStepIntent(jobID: jobID, k: intent.step, exampleIDs: intent.exampleIDs, mode: intent.mode, lr: intent.lr,
                                       groups: intent.groups, now: now)
        case let .stepApplied(step, metrics, reconciled):
            try await markStepApplied(jobID: jobID, k: step, metrics: metrics, reconciled: reconciled, now: now)
        case let .stepSkipped(step, exampleIDs, figures):
            try await recordSkippedStep(jobID: jobID, k: step, exampleIDs: exampleIDs, figures: figures, now: now)
        case .intentDiscarded(let step):
            try await discardStepIntent(jobID: jobID, k: step)
        case let .concludedNotLanded(step, checkAfterMs):
            try await concludeStepNotLanded(jobID: jobID, k: step, checkAfterMs: checkAfterMs)
        case .lateLandingCleared:
            try await clearLateLandingCheck(jobID: jobID)
        case .checkpointRecorded(let save):
            try await recordCheckpoint(jobID: jobID, step: save.step, checkpointID: save.checkpointID, kind: save.kind,
                                       expiresAtMs: save.expiresAtMs, serverStep: save.serverStep, now: now)
        case .deletionStarted(let step):
            try await markCheckpointDeleting(jobID: jobID, step: step, now: now)
        case .checkpointDeleted(let step):
            try await markCheckpointDeleted(jobID: jobID, step: step, now: now)
        case let .evalRecorded(eval, examples):
            try await recordEval(eval, examples: examples)
        case .rewound(let step):
            _ = try await rewindSteps(jobID: jobID, after: step)
        }
    }
}

extension ProgressStore: ProgressRecording, ProgressFactWriting {}

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
