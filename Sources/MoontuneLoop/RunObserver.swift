import MoondreamAPI
import MoontuneDecisions
import MoontuneStore

/// Something the loop did that a person or a log may want to see.
public enum RunEvent: Sendable {
    case started(job: String, finetuneID: String, resumedAt: Int, totalSteps: Int, previousState: JobState?)
    /// The client's in-flight limiter, for a live display of requests in flight.
    case attached(limiter: InFlightLimiter)
    case stepApplied(step: Int, totalSteps: Int, statistics: StepStatistics)
    case checkpointSaved(step: Int, checkpointID: String, kind: CheckpointKind)
    case checkpointDeleted(step: Int)
    case evalRecorded(step: Int, summary: EvalSummary)
    case reconciled(step: Int?, message: String)
    /// One retry, as the client reports it (the log shows these only when verbose).
    case retry(RetryEvent)
    /// A wait on the API worth a log line: its first retry, then at most one every 30 s.
    case waiting(APIWait)
    /// A wait that was logged is over: a call that was retried succeeded, `after` seconds.
    case waitOver(APIWait, after: Double)
    /// A train_step is in flight (`step`), or none is (nil): a graceful stop sees one through.
    case trainStep(inFlight: Int?)
    case stopping(reason: String)
    case finished(state: JobState, step: Int, error: String?)
    case notice(String)
}

/// The result of an eval: one rollout per eval example at temperature 0.
public struct EvalSummary: Codable, Sendable, Equatable {
    public var rewardMean: Double
    public var count: Int
    public var perSkill: [String: EvalSkillSummary]

    enum CodingKeys: String, CodingKey {
        case rewardMean = "reward_mean", count = "n", perSkill = "per_skill"
    }
}

/// Receives the loop's events: the live progress line, the structured log, tests.
public protocol RunObserver: Sendable {
    func record(_ event: RunEvent)
}

/// An observer that ignores everything.
public struct SilentObserver: RunObserver {
    public init() {}
    public func record(_ event: RunEvent) {}
}
