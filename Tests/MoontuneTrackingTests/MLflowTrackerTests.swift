import Foundation
import MoontuneConfig
@testable import MoontuneStore
@testable import MoontuneTracking
import Testing

/// The MLflow tracker's exactly-once rule against a server that keeps repeats: a restart (marks
/// not recorded), a run created but not recorded, an answer lost after the batch was applied.
@Suite struct MLflowTrackerTests {
    struct Setup {
        var store: ProgressStore
        var job: TrackedJob
        var state: TrackerState
        var folder: URL
    }

    func setup() async throws -> Setup {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mlflow-tracker-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try ProgressStore(path: folder.appendingPathComponent("state.sqlite").path)
        let record = try await store.createJob(JobRecord(name: "job", configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}",
                                                         baseURL: "http://127.0.0.1", apiKeyEnv: "K", totalSteps: 10, now: 1))
        let jobID = try #require(record.id)
        var config = JobConfig(name: "job", rank: 8, data: DataConfig(train: folder), train: TrainConfig(),
                               checkpoint: CheckpointConfig(everySteps: 5), sourceURL: folder.appendingPathComponent("c.json"))
        config.tracking = TrackingConfig(mlflow: MLflowConfig(trackingURI: "http://127.0.0.1:1", experiment: "exp"))
        let job = TrackedJob(jobID: jobID, name: "job", config: config, store: store, databasePath: folder.path)
        let state = try await store.trackerState(jobID: jobID, tracker: "mlflow", target: "t", now: 1)
        return Setup(store: store, job: job, state: state, folder: folder)
    }

    func tracker(_ server: FakeMLflow) -> MLflowTracker {
        MLflowTracker(settings: MLflowConfig(trackingURI: "http://127.0.0.1:1", experiment: "exp"), environment: [:], transport: server)
    }

    func batch(_ steps: ClosedRange<Int>) -> TrackingBatch {
        TrackingBatch(steps: steps.map { TrackedStep(k: $0, atMs: Int64($0), scalars: [TrackedScalar(name: "train/lr", value: 0.1),
                                                                                         TrackedScalar(name: "train/reward_mean", value: Double($0))]) },
                      evals: [], checkpoints: [], through: steps.upperBound)
    }

    func repeats(_ server: FakeMLflow) -> [String] {
        server.state.withLock { state in
            var seen: [String: Int] = [:]
            for (_, metrics) in state.metrics { for metric in metrics { seen["\(metric.key)@\(metric.step)", default: 0] += 1 } }
            return seen.filter { $0.value > 1 }.keys.sorted()
        }
    }

    @Test func aRestartWhoseMarksWereNotRecordedSendsOnlyWhatTheRunLacks() async throws {
        let s = try await setup()
        defer { try? FileManager.default.removeItem(at: s.folder) }
        let server = FakeMLflow()
        let first = tracker(server)
        let opened = try await first.open(s.state, job: s.job)
        _ = try await first.deliver(batch(1...3), state: opened, job: s.job)
        // Killed before the marks moved: the next run starts from the same marks.
        let second = tracker(server)
        let reopened = try await second.open(opened, job: s.job)
        #expect(reopened.runID == opened.runID)
        _ = try await second.deliver(batch(1...5), state: reopened, job: s.job)
        #expect(repeats(server).isEmpty, "\(repeats(server))")
        let steps = server.state.withLock { $0.metrics[opened.runID ?? ""]?.filter { $0.key == "train/lr" }.map(\.step) }
        #expect(steps == [1, 2, 3, 4, 5])
        #expect(server.state.withLock { $0.runs.count } == 1)
    }

    @Test func aRunCreatedButNotRecordedIsFoundByItsKey() async throws {
        let s = try await setup()
        defer { try? FileManager.default.removeItem(at: s.folder) }
        let server = FakeMLflow()
        let opened = try await tracker(server).open(s.state, job: s.job)
        var lost = opened
        lost.runID = nil  // the kill came between creating the run and recording its id
        let reopened = try await tracker(server).open(lost, job: s.job)
        #expect(reopened.runID == opened.runID)
        #expect(server.state.withLock { $0.runs.count } == 1)
        #expect(server.state.withLock { $0.runs.values.first?.tags["mlflow.runName"] } == "job")
    }

    @Test func credentialsComeFromMLflowsVariablesAndGoInTheHeaderOnly() async throws {
        let s = try await setup()
        defer { try? FileManager.default.removeItem(at: s.folder) }
        for (environment, expected) in [
            (["MLFLOW_TRACKING_TOKEN": "tok-123456789"], "Bearer tok-123456789"),
            (["MLFLOW_TRACKING_USERNAME": "me", "MLFLOW_TRACKING_PASSWORD": "pw-123456789"],
             "Basic " + Data("me:pw-123456789".utf8).base64EncodedString()),
        ] {
            let server = FakeMLflow()
            let tracker = MLflowTracker(settings: MLflowConfig(trackingURI: "http://127.0.0.1:1", experiment: "exp"),
                                        environment: environment, transport: server)
            let opened = try await tracker.open(s.state, job: s.job)
            let setUp = try await tracker.setup(opened, job: s.job, finetuneID: "ft")
            _ = try await tracker.deliver(batch(1...1), state: setUp, job: s.job)
            #expect(server.state.withLock { $0.params.values.first?["train.steps"] } == "1")
            let headers = server.state.withLock { $0.authorizations }
            #expect(!headers.isEmpty && headers.allSatisfy { $0 == expected })
            // Not in the recorded state, nor in the params.
            let recorded = try await s.store.trackerStates(jobID: s.job.jobID)
            #expect(!"\(recorded)".contains("123456789"))
            #expect(!"\(server.state.withLock { $0.params })".contains("123456789"))
        }
        let anonymous = FakeMLflow()
        _ = try await tracker(anonymous).open(s.state, job: s.job)
        #expect(anonymous.state.withLock { $0.authorizations }.allSatisfy { $0 == nil })
    }

    @Test func aBatchWhoseAnswerWasLostIsNotSentTwice() async throws {
        let s = try await setup()
        defer { try? FileManager.default.removeItem(at: s.folder) }
        let server = FakeMLflow()
        let tracker = tracker(server)
        let opened = try await tracker.open(s.state, job: s.job)
        _ = try await tracker.deliver(batch(1...2), state: opened, job: s.job)
        server.state.withLock { $0.loseNextAnswer = true }
        await #expect(throws: TrackingError.self) { _ = try await tracker.deliver(self.batch(3...4), state: opened, job: s.job) }
        _ = try await tracker.deliver(batch(3...6), state: opened, job: s.job)
        #expect(repeats(server).isEmpty, "\(repeats(server))")
        let steps = server.state.withLock { $0.metrics[opened.runID ?? ""]?.filter { $0.key == "train/reward_mean" }.map(\.step) }
        #expect(steps == [1, 2, 3, 4, 5, 6])
    }

    @Test func aSweepsJobCarriesTheSweepAndItsParamsAsTags() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mlflow-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try ProgressStore(path: folder.appendingPathComponent("state.sqlite").path)
        let record = JobRecord(name: "lr-sweep-2", configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}",
                               baseURL: "http://127.0.0.1", apiKeyEnv: "K", totalSteps: 10, now: 1)
        let sweep = SweepRecord(name: "lr-sweep", digest: "d", fileText: "{}", filePath: "/s.json", metric: "eval/reward_mean",
                                prune: nil, createdAtMs: 1)
        #expect(try await store.submitSweep(sweep, jobs: [(record, #"[["train.lr", 0.004]]"#)], priority: 0, now: 1) == .submitted)
        let jobID = try #require(try await store.job(named: "lr-sweep-2")?.id)
        let config = JobConfig(name: "lr-sweep-2", rank: 8, data: DataConfig(train: folder), train: TrainConfig(),
                               checkpoint: CheckpointConfig(everySteps: 5), sourceURL: folder.appendingPathComponent("c.json"))
        let tags = try await MLflowTracker.sweepTags(TrackedJob(jobID: jobID, name: "lr-sweep-2", config: config, store: store,
                                                                  databasePath: folder.path))
        let byKey = Dictionary(uniqueKeysWithValues: tags.map { ($0.key, $0.value) })
        #expect(byKey["moontune.sweep"] == "lr-sweep")
        #expect(byKey["moontune.sweep.position"] == "1")
        #expect(byKey["moontune.sweep.metric"] == "eval/reward_mean")
        #expect(byKey["moontune.sweep.param.train.lr"] == "0.004")
    }
}
