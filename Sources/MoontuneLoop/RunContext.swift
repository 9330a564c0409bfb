import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneStore

/// Everything one run of a job works with. Immutable and shared with the loop's child tasks.
public struct RunContext: Sendable {
    public var config: JobConfig
    public var jobID: Int64
    /// The store, behind the methods the loop uses (`ProgressStore` live, a fake in tests).
    public var store: any ProgressRecording
    /// The tuning API, behind the calls the loop makes (`MoondreamClient` live, a fake in tests).
    public var client: any TuningService
    public var dataset: Dataset
    public var evalDataset: Dataset?
    public var scorer: any RewardScorer
    public var builder: RequestBuilder
    /// Builds eval requests; nil: `builder`. Eval reads each of its images once per eval, so it
    /// goes past the image cache rather than evicting the training steps' images from it, and its
    /// memory stays that of the requests in flight.
    public var evalBuilder: RequestBuilder? = nil
    public var observer: any RunObserver
    public var logger: Logger
    /// Move the job back to the server's step when the server is behind the record.
    public var rewindToServer: Bool
    /// How long to wait, after a train_step whose request may still be running on the server (a
    /// timeout, a lost connection, a crash), before asking the server where it is: a request the
    /// server is still processing must land first, or it would be mistaken for one that never came.
    public var inDoubtWait: Duration
    /// What the run waits on the API for, for the log and `status`. Shared by every task of the run.
    public var waits: WaitTracker
    /// The time of every record and every wait of the loop (the in-doubt watch, the heartbeat, the
    /// last metrics): the wall clock live, virtual time in tests.
    public var clock: any LoopClock
    /// How often the run flushes its waits and, every second time, beats its heartbeat; nil runs
    /// no heartbeat (tests on virtual time, where a sleep takes no time).
    public var heartbeatEvery: Duration?

    public init(config: JobConfig, jobID: Int64, store: any ProgressRecording, client: any TuningService, dataset: Dataset,
                evalDataset: Dataset?, scorer: any RewardScorer, builder: RequestBuilder, observer: any RunObserver,
                logger: Logger, rewindToServer: Bool, inDoubtWait: Duration = .seconds(30), waits: WaitTracker? = nil,
                clock: any LoopClock = SystemLoopClock(), heartbeatEvery: Duration? = .seconds(1)) {
        self.config = config
        self.jobID = jobID
        self.store = store
        self.client = client
        self.dataset = dataset
        self.evalDataset = evalDataset
        self.scorer = scorer
        self.builder = builder
        self.observer = observer
        self.logger = logger
        self.rewindToServer = rewindToServer
        self.inDoubtWait = inDoubtWait
        self.waits = waits ?? WaitTracker(observer: observer)
        self.clock = clock
        self.heartbeatEvery = heartbeatEvery
    }
}

/// How a run ended.
public struct RunOutcome: Sendable, Equatable {
    public var state: JobState
    /// The last applied step.
    public var step: Int
    public var error: String?
}

/// A reason to stop the job that is not an API failure: the server disagrees with the record, or
/// the config changed. Its message says what to do.
public struct JobFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Thrown inside the loop when a graceful stop was asked for between steps.
struct StopRequested: Error {}

/// Thrown inside the loop when the next move would go past the job's budget.
struct BudgetReached: Error {
    let reason: String
}
