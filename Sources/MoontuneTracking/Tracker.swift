import Foundation
import MoontuneConfig
import MoontuneStore

/// The job a tracker delivers: who it is, and where its record is.
package struct TrackedJob: Sendable {
    package var jobID: Int64
    package var name: String
    package var config: JobConfig
    package var store: ProgressStore
    package var databasePath: String

    package init(jobID: Int64, name: String, config: JobConfig, store: ProgressStore, databasePath: String) {
        self.jobID = jobID
        self.name = name
        self.config = config
        self.store = store
        self.databasePath = databasePath
    }
}

/// One experiment tracker (TensorBoard, MLflow). `TrackerDelivery` drives it: open once a run,
/// the one-time parts, then batch after batch in record order, then the job's end. Each call
/// returns the marks as they stand once the tracker holds what it was given.
package protocol Tracker: Sendable {
    /// `tensorboard` or `mlflow`: the name in the database and in `status`.
    var name: String { get }
    /// Where it delivers; a new target starts over.
    var target: String { get }
    /// Readies the tracker for this run and corrects the marks from what the tracker itself holds.
    func open(_ state: TrackerState, job: TrackedJob) async throws -> TrackerState
    /// The config (as text or params) and the finetune's id.
    func setup(_ state: TrackerState, job: TrackedJob, finetuneID: String?) async throws -> TrackerState
    func deliver(_ batch: TrackingBatch, state: TrackerState, job: TrackedJob) async throws -> TrackerState
    /// The job ended (`completed`, `failed`, `stopped`): the report and the run's final status.
    func end(_ jobState: JobState, state: TrackerState, job: TrackedJob) async throws -> TrackerState
    func close() async
}
