import MoontuneStore

/// `budget`: the most rollouts (train and eval together) and the most running time a job may
/// spend. The job stops at a step boundary before it would go past either: the last applied step
/// is saved, the state is `stopped` and `stop_reason` is `budget`. A later run with a larger
/// budget continues exactly (the budget is no training setting).
package struct BudgetRule: Sendable, Equatable {
    package var maxRollouts: Int?
    package var maxMs: Int64?
    /// Rollouts one RL step generates (groups × rollouts per group); SFT steps generate none.
    package var rolloutsPerStep: Int
    package var sftSteps: Int
    /// Rollouts one eval generates (one per eval example).
    package var rolloutsPerEval: Int
    /// The most attempts an RL step may make: 1, or 1 + `GroupSignalFilter.maxExtraAttempts` with
    /// `train.skip_constant_groups`. Steps gathered ahead are paid for as if each step before
    /// them took all of its attempts.
    package var attemptsPerStep: Int

    package init(maxRollouts: Int?, maxMs: Int64?, rolloutsPerStep: Int, sftSteps: Int, rolloutsPerEval: Int,
                attemptsPerStep: Int = 1) {
        self.maxRollouts = maxRollouts
        self.maxMs = maxMs
        self.rolloutsPerStep = rolloutsPerStep
        self.sftSteps = sftSteps
        self.rolloutsPerEval = rolloutsPerEval
        self.attemptsPerStep = max(1, attemptsPerStep)
    }

    /// Rollouts of step `k`.
    func cost(ofStep k: Int) -> Int { k <= sftSteps ? 0 : rolloutsPerStep }

    /// Rollouts of steps 1...k.
    func cost(throughStep k: Int) -> Int { max(0, k - min(k, sftSteps)) * rolloutsPerStep }
}

/// `early_stop`: when `patience` evals in a row have not improved the best eval reward by
/// `minDelta`, the job saves, keeps the best checkpoint and completes (`stop_reason:
/// early_stop`).
package struct EarlyStopRule: Sendable, Equatable {
    package var patience: Int
    package var minDelta: Double

    package init(patience: Int, minDelta: Double) {
        self.patience = max(1, patience)
        self.minDelta = max(0, minDelta)
    }

    /// The eval step at which the rule fired, from the recorded eval rewards; nil while it has
    /// not. The first eval sets the best; each later one either improves it by `minDelta` (and
    /// becomes the best) or adds to the run of evals without improvement.
    package func firedAt(_ evalRewards: [Int: Double]) -> Int? {
        var best: Double?
        var without = 0
        for (step, reward) in evalRewards.sorted(by: { $0.key < $1.key }) {
            guard let current = best else {
                best = reward
                continue
            }
            if reward >= current + minDelta {
                best = reward
                without = 0
            } else {
                without += 1
                if without >= patience { return step }
            }
        }
        return nil
    }
}

extension LoopPlanner {
    /// The step the job ends at: the last step, or the eval step at which early stop fired.
    package static func endStep(_ progress: RecordedProgress) -> Int {
        guard let rule = progress.earlyStop, let fired = rule.firedAt(progress.evalRewards) else { return progress.totalSteps }
        return min(progress.totalSteps, max(fired, 0))
    }

    /// Rollouts the record accounts for: every applied step's (its extra attempts included) and
    /// every recorded eval's.
    package static func rolloutsSpent(_ progress: RecordedProgress) -> Int {
        guard let budget = progress.budget else { return 0 }
        return budget.cost(throughStep: progress.lastApplied) + progress.extraRollouts + progress.evalSteps.count * budget.rolloutsPerEval
    }

    /// Why the next move would go past the budget, or nil. `evalNext`: the next move is an eval
    /// rather than step `lastApplied + 1`.
    static func budgetExceeded(_ progress: RecordedProgress, evalNext: Bool) -> String? {
        guard let budget = progress.budget else { return nil }
        let k = progress.lastApplied
        if let max = budget.maxRollouts {
            let spent = rolloutsSpent(progress)
            let next = evalNext ? budget.rolloutsPerEval : budget.cost(ofStep: k + 1)
            if next > 0, spent + next > max {
                return "the rollout budget (budget.max_rollouts = \(max)) is reached: \(spent) spent, the next "
                    + (evalNext ? "eval" : "step") + " needs \(next)"
            }
        }
        if let max = budget.maxMs {
            let estimate = evalNext ? 0 : progress.lastStepMs
            if progress.elapsedMs + estimate > max {
                return "the time budget (budget.max_hours = \(formatHours(max))) is reached: \(formatHours(progress.elapsedMs)) spent"
                    + (estimate > 0 ? ", and a step takes about \(formatHours(estimate))" : "")
            }
        }
        return nil
    }

    /// The highest step whose rollouts may be gathered ahead within the rollout budget, counting
    /// the evals due before it.
    package static func affordableHorizon(_ progress: RecordedProgress, upTo horizon: Int) -> Int {
        guard let budget = progress.budget, let max = budget.maxRollouts else { return horizon }
        let k = progress.lastApplied
        var spent = rolloutsSpent(progress)
        var step = k
        while step < horizon {
            if isEvalDue(at: step, progress), !progress.evalSteps.contains(step) {
                spent += budget.rolloutsPerEval
            }
            spent += budget.cost(ofStep: step + 1)
            if spent > max { break }
            // The attempts this step may still need before a later step's rollouts go out.
            spent += budget.cost(ofStep: step + 1) * (budget.attemptsPerStep - 1)
            step += 1
        }
        return Swift.max(k + 1, step)
    }

    static func formatHours(_ ms: Int64) -> String {
        let hours = Double(ms) / 3_600_000
        return hours >= 1 ? String(format: "%.2f h", hours) : String(format: "%.1f min", hours * 60)
    }
}
