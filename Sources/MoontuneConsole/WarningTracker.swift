import MoontuneDecisions
import MoontuneLoop
import MoontuneReport
import MoontuneStore

/// The training warnings (`TrainingWarnings`) of a running job, from the steps and evals this run
/// reports: each says when a warning first appears and when it clears, so that the log carries
/// one line for each rather than one per step.
package struct WarningTracker: Sendable {
    /// Enough steps for every warning's window.
    static let window = 64

    private var series: [StepPoint] = []
    private var evals: [EvalRecord] = []
    private var truncationRates: [Double] = []
    /// The active warnings by kind.
    package private(set) var active: [String: String] = [:]

    package init() {}

    /// What changed: warnings that appeared (their messages) and those that cleared (their kinds
    /// with the message they had).
    package struct Change: Sendable, Equatable {
        package var appeared: [TrainingWarnings.Warning] = []
        package var cleared: [TrainingWarnings.Warning] = []
    }

    package mutating func stepApplied(step: Int, statistics: StepStatistics) -> Change {
        series.append(StepPoint(k: step, rewardMean: statistics.rewards?.mean, rewardStd: statistics.rewards?.std,
                                constantGroupFraction: statistics.rewards == nil ? nil : statistics.constantGroupFraction,
                                wallMs: statistics.wallMs))
        if series.count > Self.window { series.removeFirst(series.count - Self.window) }
        if let rate = statistics.truncationRate {
            truncationRates.append(rate)
            if truncationRates.count > Self.window { truncationRates.removeFirst(truncationRates.count - Self.window) }
        }
        return update()
    }

    package mutating func evalRecorded(step: Int, rewardMean: Double, count: Int) -> Change {
        evals.removeAll { $0.step >= step }
        evals.append(EvalRecord(jobID: 0, step: step, rewardMean: rewardMean, count: count, perSkillJSON: "{}", atMs: 0))
        return update()
    }

    private mutating func update() -> Change {
        let now = TrainingWarnings.active(series: series, evals: evals, truncationRates: truncationRates)
        let kinds = Set(now.map(\.kind))
        var change = Change()
        change.appeared = now.filter { active[$0.kind] == nil }
        change.cleared = active.filter { !kinds.contains($0.key) }.sorted { $0.key < $1.key }
            .map { TrainingWarnings.Warning(kind: $0.key, message: $0.value) }
        active = Dictionary(now.map { ($0.kind, $0.message) }, uniquingKeysWith: { a, _ in a })
        return change
    }
}
