import Foundation
import Logging
import MoontuneConfig
@testable import MoontuneStore
@testable import MoontuneTracking
import Synchronization
import Testing

/// The delivery loop against a fake tracker that is down for a while: training's record goes on,
/// the backlog and the error show in the store, and once it answers every step arrives once, in
/// order, and then the job's end.
@Suite struct TrackerDeliveryTests {
    final class FakeTracker: Tracker {
        let failuresLeft = Mutex(0)
        let delivered = Mutex<[Int]>([])
        let evals = Mutex<[Int]>([])
        let ended = Mutex<JobState?>(nil)
        init(failures: Int) { failuresLeft.withLock { $0 = failures } }
        var name: String { "tensorboard" }
        var target: String { "/fake" }
        func open(_ state: TrackerState, job: TrackedJob) async throws -> TrackerState { state }
        func setup(_ state: TrackerState, job: TrackedJob, finetuneID: String?) async throws -> TrackerState { state }
        func deliver(_ batch: TrackingBatch, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
            let fail = failuresLeft.withLock { left in
                defer { left = max(0, left - 1) }
                return left > 0
            }
            if fail { throw TrackingError("connection refused") }
            delivered.withLock { $0 += batch.steps.map(\.k) }
            evals.withLock { $0 += batch.evals.map(\.step) }
            return state
        }
        func end(_ jobState: JobState, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
            ended.withLock { $0 = jobState }
            return state
        }
        func close() async {}
    }

    @Test func aTrackerThatIsDownGetsTheBacklogInOrderOnceItAnswers() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("delivery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try ProgressStore(path: folder.appendingPathComponent("state.sqlite").path)
        let job = try await store.createJob(JobRecord(name: "job", configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}",
                                                      baseURL: "http://127.0.0.1", apiKeyEnv: "K", totalSteps: 30, now: 1))
        let jobID = try #require(job.id)
        try await store.setFinetuneID(jobID: jobID, finetuneID: "ft", now: 1)
        let config = JobConfig(name: "job", rank: 8, data: DataConfig(train: folder), train: TrainConfig(),
                               checkpoint: CheckpointConfig(everySteps: 5), sourceURL: folder.appendingPathComponent("c.json"))
        // Down until the test has seen its error in the record, however slow the machine.
        let fake = FakeTracker(failures: 1_000_000)
        let ending = JobEnding()
        var delivery = TrackerDelivery(tracker: fake, job: TrackedJob(jobID: jobID, name: "job", config: config, store: store,
                                                                         databasePath: folder.path),
                                       ending: ending, logger: Logger(label: "test"))
        delivery.pollInterval = .milliseconds(5)
        delivery.firstBackoff = .milliseconds(5)
        delivery.maxBackoff = .milliseconds(20)
        delivery.batchSteps = 4
        var sawError = false
        let running = delivery
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await running.run() }
            for k in 1...30 {
                try await store.recordStepIntent(jobID: jobID, k: k, exampleIDs: "[]", lr: 0.01, now: Int64(k))
                try await store.markStepApplied(jobID: jobID, k: k, metrics: StepMetrics(StepFigures(rewardMean: 0.5)), reconciled: false,
                                                now: Int64(k))
                if k % 10 == 0 {
                    try await store.recordEval(EvalRecord(jobID: jobID, step: k, rewardMean: 0.1, count: 2, perSkillJSON: "{}", atMs: Int64(k)))
                }
                if k == 3 {
                    let deadline = ContinuousClock.now + .seconds(30)
                    while !sawError && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(10))
                        sawError = try await store.trackerStatuses(jobID: jobID).first?.lastError == "connection refused"
                    }
                    fake.failuresLeft.withLock { $0 = 0 }  // it answers again
                }
            }
            try await store.finish(jobID: jobID, state: .completed, error: nil, now: 100)
            ending.end()
            try await group.waitForAll()
        }
        #expect(sawError, "the failure is recorded for status while the tracker is down")
        #expect(fake.delivered.withLock { $0 } == Array(1...30))
        #expect(fake.evals.withLock { $0 } == [10, 20, 30])
        #expect(fake.ended.withLock { $0 } == .completed)
        let status = try #require(try await store.trackerStatuses(jobID: jobID).first)
        #expect(status.backlog == 0)
        #expect(status.lastError == nil)
        #expect(status.deliveredThroughStep == 30)
    }
}
