import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneStore

/// Everything one run of a job works with. Immutable and shared with the loop's child tasks.
public struct RunContext: Sendable {
    public var config: JobConfig
    public var jobID: Int64
    public var store: ProgressStore
    public var client: MoondreamClient
    public var dataset: Dataset
    public var evalDataset: Dataset?
    public var scorer: any RewardScorer
    public var builder: RequestBuilder
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

    public init(config: JobConfig, jobID: Int64, store: ProgressStore, client: MoondreamClient, dataset: Dataset,
                evalDataset: Dataset?, scorer: any RewardScorer, builder: RequestBuilder, observer: any RunObserver,
                logger: Logger, rewindToServer: Bool, inDoubtWait: Duration = .seconds(30), waits: WaitTracker? = nil) {
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
