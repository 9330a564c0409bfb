import Foundation
import Logging
import MoontuneConfig
@testable import MoontuneStore
@testable import MoontuneTracking
import Synchronization
import Testing

/// A permanent MLflow refusal ends delivery to that tracker (the other goes on), with the reason in
/// `status` and no endless requests, while a 503 is retried; the next run tries again. A rewind
/// replaces the stale points in both trackers. Per-skill train rewards reach both.
@Suite struct TrackerRefusalAndRewindTests {
    struct Job {
        var store: ProgressStore
        var jobID: Int64
        var tracked: TrackedJob
        var folder: URL
    }

    static let skills = #"{"per_skill":{"point":{"count":2,"max":1,"mean":0.25,"min":0,"std":0.1},"query":{"count":2,"max":1,"mean":0.75,"min":0,"std":0.2}}}"#

    func makeJob() async throws -> Job {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracker-refusal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try ProgressStore(path: folder.appendingPathComponent("state.sqlite").path)
        let record = try await store.createJob(JobRecord(name: "job", configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}",
                                                         baseURL: "http://127.0.0.1", apiKeyEnv: "K", totalSteps: 30, now: 1))
        let jobID = try #require(record.id)
        try await store.setFinetuneID(jobID: jobID, finetuneID: "ft", now: 1)
        let config = JobConfig(name: "job", rank: 8, data: DataConfig(train: folder), train: TrainConfig(),
                               checkpoint: CheckpointConfig(everySteps: 5), sourceURL: folder.appendingPathComponent("c.json"))
        return Job(store: store, jobID: jobID,
                   tracked: TrackedJob(jobID: jobID, name: "job", config: config, store: store, databasePath: folder.path), folder: folder)
    }

    /// Records steps `ks` applied at `now + k`, with reward `reward(k)` and two skills' rewards.
    func apply(_ job: Job, _ ks: ClosedRange<Int>, now: Int64 = 0, reward: (Int) -> Double = { Double($0) }) async throws {
        for k in ks {
            try await job.store.recordStepIntent(jobID: job.jobID, k: k, exampleIDs: "[]", lr: 0.01, now: now + Int64(k))
            try await job.store.markStepApplied(jobID: job.jobID, k: k,
                                                metrics: StepMetrics(StepFigures(rewardMean: reward(k), metricsJSON: Self.skills)),
                                                reconciled: false, now: now + Int64(k))
        }
    }

    func delivery(_ tracker: any Tracker, _ job: Job, _ ending: JobEnding) -> TrackerDelivery {
        var delivery = TrackerDelivery(tracker: tracker, job: job.tracked, ending: ending, logger: Logger(label: "test"))
        delivery.pollInterval = .milliseconds(5)
        delivery.firstBackoff = .milliseconds(5)
        delivery.maxBackoff = .milliseconds(20)
        delivery.batchSteps = 4
        return delivery
    }

    func mlflow(_ server: FakeMLflow) -> MLflowTracker {
        MLflowTracker(settings: MLflowConfig(trackingURI: "http://127.0.0.1:1", experiment: "exp"), environment: [:], transport: server)
    }

    func status(_ job: Job, _ tracker: String) async throws -> TrackerStatus? {
        try await job.store.trackerStatuses(jobID: job.jobID).first { $0.tracker == tracker }
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record(Comment(rawValue: "timed out waiting for \(what)"))
    }

    /// Each (key, step) of the fake's run with its values, oldest first.
    func history(_ server: FakeMLflow, key: String) -> [Int: [FakeMLflow.Metric]] {
        server.state.withLock { state in
            Dictionary(grouping: state.metrics.values.flatMap { $0 }.filter { $0.key == key }, by: \.step)
        }
    }

    // MARK: - Permanent refusals

    @Test func aPermanentRefusalEndsDeliveryToThatTrackerWithTheReasonWhileTheOtherGoesOn() async throws {
        let job = try await makeJob()
        defer { try? FileManager.default.removeItem(at: job.folder) }
        let server = FakeMLflow()
        server.state.withLock { $0.refuseMetrics = (403, "PERMISSION_DENIED") }
        let other = TrackerDeliveryTests.FakeTracker(failures: 0)
        let ending = JobEnding()
        try await apply(job, 1...10)
        let (mlflowDelivery, otherDelivery) = (delivery(mlflow(server), job, ending), delivery(other, job, ending))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await otherDelivery.run() }
            // Returns on its own, long before the job ends: it is not retrying.
            await mlflowDelivery.run()
            let failed = try #require(try await status(job, "mlflow"))
            #expect(failed.state == "failed")
            #expect(failed.failure?.status == 403)
            #expect(failed.failure?.errorCode == "PERMISSION_DENIED")
            #expect(failed.failure?.endpoint == "POST /api/2.0/mlflow/runs/log-batch")
            #expect(failed.failure?.message == "refused by the test")
            #expect(failed.lastError?.contains("403") == true)
            #expect(failed.backlog == 10)
            // Training goes on; nothing more is asked of MLflow.
            try await apply(job, 11...20)
            try await Task.sleep(for: .milliseconds(200))
            try await job.store.finish(jobID: job.jobID, state: .completed, error: nil, now: 100)
            ending.end()
            try await group.waitForAll()
        }
        #expect(server.state.withLock { $0.metricBatches } == 1, "one refused request, not a retry loop")
        #expect(other.delivered.withLock { $0 } == Array(1...20))
        #expect(other.ended.withLock { $0 } == .completed)
        let json = String(decoding: try JSONEncoder().encode(try #require(try await status(job, "mlflow"))), as: UTF8.self)
        #expect(json.contains(#""state":"failed""#) && json.contains(#""error_code":"PERMISSION_DENIED""#), "\(json)")

        // The next run of the job (the token fixed): delivery starts again from the marks.
        server.state.withLock { $0.refuseMetrics = nil }
        await delivery(mlflow(server), job, ending).run()
        let recovered = try #require(try await status(job, "mlflow"))
        #expect(recovered.state == "delivering" && recovered.failure == nil)
        #expect(recovered.backlog == 0)
        let steps = history(server, key: "train/reward_mean")
        #expect(steps.keys.sorted() == Array(1...20))
        #expect(steps.values.allSatisfy { $0.count == 1 })
        #expect(server.state.withLock { $0.runs.values.first?.status } == "FINISHED")
    }

    @Test func a503IsRetriedUntilItAnswersAndIsNotAFailure() async throws {
        let job = try await makeJob()
        defer { try? FileManager.default.removeItem(at: job.folder) }
        let server = FakeMLflow()
        server.state.withLock { $0.unavailableLeft = 3 }
        let ending = JobEnding()
        try await apply(job, 1...8)
        try await job.store.finish(jobID: job.jobID, state: .completed, error: nil, now: 100)
        ending.end()
        await delivery(mlflow(server), job, ending).run()
        let status = try #require(try await status(job, "mlflow"))
        #expect(status.state == "delivering" && status.failure == nil)
        #expect(status.backlog == 0 && status.lastError == nil)
        #expect(server.state.withLock { $0.metricBatches } >= 5, "3 unavailable, then 2 batches of 4 steps")
        let steps = history(server, key: "train/reward_mean")
        #expect(steps.keys.sorted() == Array(1...8) && steps.values.allSatisfy { $0.count == 1 })
    }

    @Test func onlyRefusalsAreGivenUpOn() {
        func error(_ status: Int) -> MLflowError { MLflowError(endpoint: "POST /x", status: status, code: nil, message: "") }
        #expect([400, 401, 403, 404, 413].allSatisfy { error($0).isPermanent })
        #expect(![408, 429, 500, 502, 503, 504].contains { error($0).isPermanent })
    }

    // MARK: - Per-skill train rewards

    @Test func aStepsPerSkillRewardsAreNamedAsEvalsNameTheirs() {
        let step = StepRecord(jobID: 1, k: 3, state: .applied, exampleIDs: "[]", intentAtMs: 0, appliedAtMs: 10, reconciled: false,
                              rewardMean: 0.5, retries: 0, metricsJSON: Self.skills)
        let scalars = Dictionary(uniqueKeysWithValues: TrackedPoints.scalars(step: step, rolloutsSpent: 1).map { ($0.name, $0.value) })
        #expect(scalars["train/point/reward_mean"] == 0.25)
        #expect(scalars["train/query/reward_mean"] == 0.75)
        // A step with no rewards recorded (reconciled by a later run) has none.
        let bare = StepRecord(jobID: 1, k: 4, state: .applied, exampleIDs: "[]", intentAtMs: 0, appliedAtMs: 10, reconciled: true, retries: 0)
        #expect(!TrackedPoints.scalars(step: bare, rolloutsSpent: 1).contains { $0.name.hasSuffix("/reward_mean") })
    }

    // MARK: - Rewinds

    @Test func aRewindReplacesTheStalePointsInBothTrackersAndMovesTheMarksBack() async throws {
        let job = try await makeJob()
        defer { try? FileManager.default.removeItem(at: job.folder) }
        let logdir = job.folder.appendingPathComponent("runs")
        let board = TensorBoardTracker(logdir: logdir, jobName: "job")
        let server = FakeMLflow()
        let ending = JobEnding()
        try await apply(job, 1...6)
        try await job.store.recordEval(EvalRecord(jobID: job.jobID, step: 5, rewardMean: 0.5, count: 2, perSkillJSON: "{}", atMs: 5))
        let (boardDelivery, mlflowDelivery) = (delivery(board, job, ending), delivery(mlflow(server), job, ending))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await boardDelivery.run() }
            group.addTask { await mlflowDelivery.run() }
            try await waitUntil("both trackers through step 6") {
                let statuses = try await job.store.trackerStatuses(jobID: job.jobID)
                return statuses.count == 2 && statuses.allSatisfy { $0.backlog == 0 && $0.deliveredThroughStep == 6 }
            }
            // `run --rewind-to-server` to step 3, then steps 4-6 trained again, with other rewards.
            #expect(try await job.store.rewindSteps(jobID: job.jobID, after: 3) == 3)
            let marks = try await job.store.trackerStates(jobID: job.jobID)
            #expect(marks.allSatisfy { $0.stepsThrough == 3 && $0.evalsThrough <= 3 && $0.rewinds == 1 && $0.rewoundTo == 3 })
            try await apply(job, 4...6, now: 1000) { 100 + Double($0) }
            try await job.store.recordEval(EvalRecord(jobID: job.jobID, step: 5, rewardMean: 0.9, count: 2, perSkillJSON: "{}", atMs: 1005))
            try await job.store.finish(jobID: job.jobID, state: .completed, error: nil, now: 2000)
            ending.end()
            try await group.waitForAll()
        }
        let states = try await job.store.trackerStates(jobID: job.jobID)
        #expect(states.allSatisfy { $0.rewindsApplied == 1 && !$0.rewindPending && $0.stepsThrough == 6 }, "\(states)")

        // TensorBoard, read by its own loader: the rewound steps hold their new values only.
        let scalars = try await Self.tensorBoardScalars(logdir.appendingPathComponent("job"), scratch: job.folder)
        #expect(scalars["train/reward_mean"]?.map(\.step) == Array(1...6), "\(scalars["train/reward_mean"] ?? [])")
        #expect(scalars["train/reward_mean"]?.map(\.value) == [1, 2, 3, 104, 105, 106])
        #expect(scalars["eval/reward_mean"]?.map(\.step) == [5])
        #expect(scalars["eval/reward_mean"].map { $0.map(\.value) }.map { abs($0[0] - 0.9) < 1e-6 } == true)
        #expect(scalars["train/point/reward_mean"]?.map(\.step) == Array(1...6))
        #expect(scalars["train/query/reward_mean"]?.map(\.value) == Array(repeating: 0.75, count: 6))
        let contents = try board.writer.readBack()
        #expect(contents.starts == [4] && contents.lastStep == 6 && contents.lastEval == 5)

        // MLflow: nothing sent twice; a rewound step's latest point (by time) is its new value.
        let rewards = history(server, key: "train/reward_mean")
        #expect(rewards.keys.sorted() == Array(1...6))
        for k in 1...6 {
            let points = rewards[k] ?? []
            #expect(points.count == (k <= 3 ? 1 : 2), "step \(k): \(points)")
            #expect(Set(points.map(\.timestamp)).count == points.count, "step \(k) sent twice")
            #expect(points.max { $0.timestamp < $1.timestamp }?.value == (k <= 3 ? Double(k) : 100 + Double(k)))
        }
        #expect(history(server, key: "eval/reward_mean")[5]?.max { $0.timestamp < $1.timestamp }?.value == 0.9)
        #expect(history(server, key: "train/point/reward_mean").keys.sorted() == Array(1...6))
        #expect(server.state.withLock { $0.runs.values.first?.tags["moontune.rewound_to"] } == "3")
    }

    @Test func aRewindSeenAfterAStaleSaveStillHoldsTheMarksBack() async throws {
        let job = try await makeJob()
        defer { try? FileManager.default.removeItem(at: job.folder) }
        try await apply(job, 1...6)
        var stale = try await job.store.trackerState(jobID: job.jobID, tracker: "mlflow", target: "t", now: 1)
        _ = try await job.store.rewindSteps(jobID: job.jobID, after: 2)
        // A delivery that read its marks before the rewind records steps through 6.
        stale.stepsThrough = 6
        stale.evalsThrough = 5
        let saved = try await job.store.saveTrackerState(stale)
        #expect(saved.stepsThrough == 2 && saved.evalsThrough == 2 && saved.rewinds == 1 && saved.rewindPending)
        let recorded = try #require(try await job.store.recordedTrackerState(jobID: job.jobID, tracker: "mlflow"))
        #expect(recorded == saved)
    }

    /// Every scalar as TensorBoard's `EventAccumulator` (which honours `session_log` START) sees it.
    static func tensorBoardScalars(_ folder: URL, scratch: URL) async throws -> [String: [(step: Int, value: Double)]] {
        let script = """
            import json, sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
            acc.Reload()
            out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
            json.dump(out, open(sys.argv[2], "w"))
            """
        let output = scratch.appendingPathComponent("scalars-\(UUID().uuidString).json")
        let errors = scratch.appendingPathComponent("scalars-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, folder.path, output.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errors)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard process.terminationStatus == 0, let data = FileManager.default.contents(atPath: output.path),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: [[Double]]] else {
            let message = String(decoding: FileManager.default.contents(atPath: errors.path) ?? Data(), as: UTF8.self)
            throw TrackingError("TensorBoard's loader failed: \(message.suffix(2000))")
        }
        return json.mapValues { $0.map { (Int($0[0]), $0[1]) } }
    }
}
