import MoontuneConfig

/// `train.skip_constant_groups`: which of a step's groups go to train_step, and when the step
/// tries more examples or is skipped. A pure function of the groups' rewards.
///
/// Attempt 0 is the step's own batch (`DataOrder.indices(forStep:)`). When every RL group of an
/// attempt is constant (all its rewards exactly equal: zero advantage, nothing to learn), the step
/// tries `groups_per_step` other examples, drawn from a stream of (seed, step, attempt) alone
/// (`DataOrder.indices(forStep:attempt:)`), so no other step's batch changes; at most
/// `maxExtraAttempts` times. The first attempt with a group with signal trains on that attempt's
/// groups with signal, in their group order. When none has any, the step is recorded skipped and
/// nothing is sent.
package enum GroupSignalFilter {
    /// Attempts after the step's own batch, at most.
    package static let maxExtraAttempts = TrainConfig.maxExtraAttempts

    package enum Decision: Sendable, Equatable {
        /// Train on these groups of the attempt (their positions, in order).
        case train(kept: [Int])
        /// No group had signal: try this attempt next.
        case tryAgain(attempt: Int)
        /// No group of any attempt had signal: record the step skipped.
        case skip
    }

    /// - Parameters:
    ///   - constant: whether each group of attempt `attempt` is constant, in group order.
    package static func decide(constant: [Bool], attempt: Int) -> Decision {
        let kept = constant.indices.filter { !constant[$0] }
        if !kept.isEmpty { return .train(kept: kept) }
        return attempt < maxExtraAttempts ? .tryAgain(attempt: attempt + 1) : .skip
    }
}

extension RecordedProgress {
    /// The server's step after moontune step `k`: a skipped step sends nothing, so it is k minus
    /// the skipped steps up to k. Without skipped steps, k itself.
    package func serverStep(after k: Int) -> Int {
        k - skippedSteps.prefix { $0 <= k }.count
    }

    /// The record's step that the server's step `server` stands for: the latest step up to the
    /// last applied one after which the server is at `server` (after a skipped step the server
    /// is where it was after the step before). Beyond the record's server step, the steps to come
    /// are counted on from the last applied one. Without skipped steps, `server` itself.
    package func recordStep(forServerStep server: Int) -> Int {
        let last = serverStep(after: lastApplied)
        guard server < last else { return lastApplied + (server - last) }
        // The smallest k with serverStep(after: k) == server + 1, less one.
        var k = max(0, server + 1)
        while serverStep(after: k) < server + 1 { k += server + 1 - serverStep(after: k) }
        return k - 1
    }

    /// The server's step of the live checkpoint recorded at step `k`.
    package func serverStep(ofCheckpoint k: Int) -> Int {
        checkpointServerSteps[k] ?? serverStep(after: k)
    }
}

extension LoopPlanner {
    /// Why attempt `attempt` (≥ 1) of step `lastApplied + 1` would go past the rollout budget,
    /// or nil. Its rollouts and those of the attempts before it are counted: an attempt the
    /// budget cannot pay for is never started, and the job stops at the step boundary instead
    /// (nothing is recorded for the step; a later run redoes it from attempt 0).
    package static func attemptExceedsBudget(_ progress: RecordedProgress, attempt: Int) -> String? {
        guard let budget = progress.budget, let max = budget.maxRollouts else { return nil }
        let k = progress.lastApplied + 1
        let spent = rolloutsSpent(progress)
        let needed = (attempt + 1) * budget.cost(ofStep: k)
        guard spent + needed > max else { return nil }
        return "the rollout budget (budget.max_rollouts = \(max)) is reached: \(spent) spent, step \(k) had no group with "
            + "signal in \(attempt) attempt\(attempt == 1 ? "" : "s") and another needs \(budget.cost(ofStep: k))"
    }
}
