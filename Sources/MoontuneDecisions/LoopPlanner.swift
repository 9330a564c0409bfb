import MoontuneStore

/// What the database says about a job's progress: all the loop needs to decide its next move.
package struct RecordedProgress: Sendable, Equatable {
    package var totalSteps: Int
    /// The highest applied step; steps 1...lastApplied are all applied.
    package var lastApplied: Int
    /// A step whose train_step may have been sent but is not known applied.
    package var pendingIntent: Int?
    /// The groups its intent recorded as tried (`train.skip_constant_groups`): they count for the
    /// rollout budget when a later run finds it applied without its figures.
    package var pendingGroupsTried: Int? = nil
    /// Live (not deleted) checkpoints by step.
    package var liveCheckpoints: [Int: CheckpointKind]
    /// Checkpoints whose deletion was recorded as started but not finished.
    package var deletingCheckpoints: Set<Int>
    /// Steps with a recorded eval.
    package var evalSteps: Set<Int>
    package var checkpointEvery: Int
    /// nil when the job has no eval.
    package var evalEvery: Int?
    /// Retention: keep this many of the most recent cadence checkpoints (0 keeps all).
    package var keepLast: Int
    /// Retention: also keep the checkpoint with the best eval reward.
    package var keepBest: Bool
    /// Eval reward by step, for `keepBest` and early stop.
    package var evalRewards: [Int: Double]
    /// `early_stop`, when set.
    package var earlyStop: EarlyStopRule? = nil
    /// `budget`, when set.
    package var budget: BudgetRule? = nil
    /// Running time spent on the job so far, earlier runs included (for `budget.max_hours`).
    package var elapsedMs: Int64 = 0
    /// How long the last step took, as the estimate of the next one.
    package var lastStepMs: Int64 = 0
    /// Steps recorded skipped (`train.skip_constant_groups`: no group had signal, nothing was
    /// sent), in order: the server's step is behind the record's by those up to it.
    package var skippedSteps: [Int] = []
    /// Rollouts the applied steps generated beyond their own batch (the extra attempts of
    /// `train.skip_constant_groups`), for the rollout budget.
    package var extraRollouts = 0
    /// The server's step of a live checkpoint, where the record says it differs from its step.
    package var checkpointServerSteps: [Int: Int] = [:]
    /// A step concluded "never landed" by waiting, whose late landing the job must look for
    /// before it ends (issue 20).
    package var lateLandingCheck: LateLandingCheck? = nil

    package init(totalSteps: Int, lastApplied: Int = 0, pendingIntent: Int? = nil, liveCheckpoints: [Int: CheckpointKind] = [:],
                deletingCheckpoints: Set<Int> = [], evalSteps: Set<Int> = [], checkpointEvery: Int, evalEvery: Int? = nil,
                keepLast: Int = 0, keepBest: Bool = false, evalRewards: [Int: Double] = [:]) {
        self.totalSteps = totalSteps
        self.lastApplied = lastApplied
        self.pendingIntent = pendingIntent
        self.liveCheckpoints = liveCheckpoints
        self.deletingCheckpoints = deletingCheckpoints
        self.evalSteps = evalSteps
        self.checkpointEvery = checkpointEvery
        self.evalEvery = evalEvery
        self.keepLast = keepLast
        self.keepBest = keepBest
        self.evalRewards = evalRewards
    }
}

/// The loop's next move.
package enum LoopAction: Sendable, Equatable {
    /// A train_step's outcome is unknown: ask the server before anything else.
    case reconcile(step: Int)
    /// A checkpoint deletion was started and must be finished (or found already done).
    case finishDeletion(step: Int)
    case saveCheckpoint(step: Int, kind: CheckpointKind)
    case eval(step: Int)
    /// A checkpoint no longer needed: a superseded reconciliation save, or one retention drops.
    case deleteCheckpoint(step: Int)
    case train(step: Int)
    /// The budget would be exceeded by the next move: stop here (the last applied step is saved).
    case stopForBudget(reason: String)
    /// Before the job ends (completes, stops early or for its budget): read the server's step
    /// once more, no earlier than `afterMs`, because `step` was concluded "never landed" by
    /// waiting and may have landed late on top of its second sending.
    case checkLateLanding(step: Int, afterMs: Int64)
    case complete
}

/// A step concluded "never landed" by waiting, not by an answer: it may still land late, so the
/// server's step is read again before the job ends, once `afterMs` (one train_step deadline after
/// the last such conclusion) has passed.
package struct LateLandingCheck: Sendable, Equatable {
    /// The first step concluded that way since the last check, which the doubled-step message names.
    package var step: Int
    package var afterMs: Int64

    package init(step: Int, afterMs: Int64) {
        self.step = step
        self.afterMs = afterMs
    }
}

/// Decides the next move from recorded progress alone: a pure function, so every situation a
/// crash can leave behind is tested without I/O.
package enum LoopPlanner {
    package static func next(_ progress: RecordedProgress) -> LoopAction {
        if let pending = progress.pendingIntent {
            return .reconcile(step: pending)
        }
        if let deleting = progress.deletingCheckpoints.min() {
            return .finishDeletion(step: deleting)
        }
        let k = progress.lastApplied
        // A reconciliation save at a step the cadence wants is saved (idempotently) again, which
        // records it under the cadence's kind.
        // Nothing to save while the server has no step (every step so far was skipped).
        if k >= 1, progress.serverStep(after: k) >= 1, let kind = checkpointKind(at: k, progress),
           progress.liveCheckpoints[k] == nil || progress.liveCheckpoints[k] == .reconcile
            || (kind == .final && progress.liveCheckpoints[k] == .cadence) {
            return .saveCheckpoint(step: k, kind: kind)
        }
        let evalDue = isEvalDue(at: k, progress) && !progress.evalSteps.contains(k)
        let end = endStep(progress)
        if evalDue || k < end, let reason = budgetExceeded(progress, evalNext: evalDue) {
            // The last applied step is saved before the job stops.
            if let step = saveBeforeBudgetStop(progress) { return .saveCheckpoint(step: step, kind: .cadence) }
            if let check = progress.lateLandingCheck { return .checkLateLanding(step: check.step, afterMs: check.afterMs) }
            return .stopForBudget(reason: reason)
        }
        if evalDue {
            return .eval(step: k)
        }
        if let obsolete = deletable(progress).min() {
            return .deleteCheckpoint(step: obsolete)
        }
        if k < end {
            return .train(step: k + 1)
        }
        if let check = progress.lateLandingCheck { return .checkLateLanding(step: check.step, afterMs: check.afterMs) }
        return .complete
    }

    /// The last applied step, when it must be saved before the job stops for its budget.
    package static func saveBeforeBudgetStop(_ progress: RecordedProgress) -> Int? {
        let k = progress.lastApplied
        guard k >= 1, progress.serverStep(after: k) >= 1,
              progress.liveCheckpoints[k] == nil || progress.liveCheckpoints[k] == .reconcile else { return nil }
        return k
    }

    /// The checkpoint a step calls for: every `checkpointEvery`-th step, and the last one (the
    /// last of `train.steps`, or the step at which early stop fired).
    package static func checkpointKind(at step: Int, _ progress: RecordedProgress) -> CheckpointKind? {
        if step == endStep(progress) { return .final }
        if step % max(1, progress.checkpointEvery) == 0 { return .cadence }
        return nil
    }

    /// Eval runs before the first step (a baseline), every `evalEvery` steps, and at the end.
    package static func isEvalDue(at step: Int, _ progress: RecordedProgress) -> Bool {
        guard let every = progress.evalEvery else { return false }
        return step == 0 || step == progress.totalSteps || step == endStep(progress) || step % max(1, every) == 0
    }

    /// Live checkpoints that may go now. Never the latest one (training could no longer resume),
    /// never the final one. Reconciliation saves go once a newer checkpoint exists; cadence ones
    /// go when retention says so.
    package static func deletable(_ progress: RecordedProgress) -> Set<Int> {
        guard let latest = progress.liveCheckpoints.keys.max() else { return [] }
        var result: Set<Int> = []
        for (step, kind) in progress.liveCheckpoints where step < latest && kind == .reconcile {
            result.insert(step)
        }
        if progress.keepLast > 0 {
            let cadence = progress.liveCheckpoints.filter { $0.value == .cadence }.keys.sorted()
            var keep = Set(cadence.suffix(progress.keepLast))
            // Early stop keeps the best checkpoint, whatever keep_last says.
            if progress.keepBest || progress.earlyStop != nil, let best = bestEvalCheckpoint(progress) {
                keep.insert(best)
            }
            for step in cadence where !keep.contains(step) && step != latest {
                result.insert(step)
            }
        }
        return result
    }

    /// The live checkpoint whose step has the best eval reward (the earliest among equals).
    static func bestEvalCheckpoint(_ progress: RecordedProgress) -> Int? {
        progress.liveCheckpoints.keys
            .compactMap { step in progress.evalRewards[step].map { (step, $0) } }
            .max { lhs, rhs in lhs.1 < rhs.1 || (lhs.1 == rhs.1 && lhs.0 > rhs.0) }?.0
    }
}
