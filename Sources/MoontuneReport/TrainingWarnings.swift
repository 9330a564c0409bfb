import MoontuneStore

/// Warnings about how training goes, read from what is recorded: they warn, and never stop a job.
///
/// - Most groups constant (every rollout of a group scored the same, so the group teaches
///   nothing) in each of the last `constantRun` steps.
/// - Reward collapse: the last step's reward far below the mean of the steps before it.
/// - Eval falling while the train reward rises: the last evals below the best one while the
///   train reward of the latest steps is above that of the steps before (over-fitting, or a
///   reward that can be gamed).
/// - A truncation rate above 20%: over the latest steps whose rollouts carry a finish reason,
///   more than one in five answers was cut by max_tokens.
package enum TrainingWarnings {
    static let constantRun = 10
    static let mostlyConstant = 0.5
    static let collapseWindow = 20
    static let truncationWindow = 5
    static let truncationLimit = 0.2

    /// One warning: `kind` names it (it stays the same while its figures change), for a log that
    /// says when a warning appears and when it clears.
    package struct Warning: Sendable, Equatable {
        package var kind: String
        package var message: String

        package init(kind: String, message: String) {
            self.kind = kind
            self.message = message
        }
    }

    /// The warnings' messages.
    /// - Parameter truncationRates: the latest steps' truncation rates, oldest first (those
    ///   whose rollouts carried a finish reason).
    package static func check(series: [StepPoint], evals: [EvalRecord], truncationRates: [Double] = []) -> [String] {
        active(series: series, evals: evals, truncationRates: truncationRates).map(\.message)
    }

    package static func active(series: [StepPoint], evals: [EvalRecord], truncationRates: [Double] = []) -> [Warning] {
        var warnings: [Warning] = []
        let fractions = series.suffix(constantRun).compactMap(\.constantGroupFraction)
        if fractions.count == constantRun, fractions.allSatisfy({ $0 > mostlyConstant }) {
            let mean = fractions.reduce(0, +) / Double(fractions.count)
            warnings.append(Warning(kind: "constant_groups", message: String(format: "most groups had no learning signal (all rewards equal) in each of the last %d steps "
                + "(%.0f%% on average): those groups teach nothing; `moontune probe` suggests a group size and temperature",
                constantRun, mean * 100)))
        }
        let means = series.compactMap(\.rewardMean)
        if means.count > collapseWindow, let last = means.last {
            let before = Array(means.dropLast().suffix(collapseWindow))
            let mean = before.reduce(0, +) / Double(before.count)
            let spread = (before.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(before.count)).squareRoot()
            if mean > 0.1, last < mean - max(0.2, 3 * spread) {
                warnings.append(Warning(kind: "reward_collapse", message: String(format: "reward collapse: the last step's reward %.3f "
                    + "is far below the %.3f of the %d steps before it", last, mean, before.count)))
            }
        }
        if evals.count >= 3, let best = evals.max(by: { $0.rewardMean < $1.rewardMean }), let latest = evals.last,
           latest.step > best.step, means.count >= 10 {
            let falling = evals.suffix(2).allSatisfy { $0.rewardMean < best.rewardMean - 0.05 }
            let half = means.count / 2
            let early = means.prefix(half).reduce(0, +) / Double(half)
            let late = means.suffix(means.count - half).reduce(0, +) / Double(means.count - half)
            if falling, late > early + 0.05 {
                warnings.append(Warning(kind: "eval_falling", message: String(format: "the eval reward is falling (%.3f at step %d, best %.3f at step %d) while the train "
                    + "reward rises (%.3f → %.3f): over-fitting, or a reward that can be gamed", latest.rewardMean, latest.step,
                    best.rewardMean, best.step, early, late)))
            }
        }
        let rates = truncationRates.suffix(truncationWindow)
        if !rates.isEmpty {
            let mean = rates.reduce(0, +) / Double(rates.count)
            if mean > truncationLimit {
                warnings.append(Warning(kind: "truncation", message: String(format: "a truncation rate of %.0f%% over the last %d "
                    + "step%@ (above %.0f%%): max_tokens cuts the answers short (finish_reason \"length\"); raise "
                    + "train.settings.max_tokens", mean * 100, rates.count, rates.count == 1 ? "" : "s", truncationLimit * 100)))
            }
        }
        return warnings
    }
}
