import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import Synchronization
import Testing
@testable import MoontuneLoop

/// Records the events a tracker sends.
final class EventRecorder: RunObserver, Sendable {
    private let events = Mutex<[RunEvent]>([])
    func record(_ event: RunEvent) { events.withLock { $0.append(event) } }
    var waits: [APIWait] { events.withLock { $0 }.compactMap { if case .waiting(let wait) = $0 { wait } else { nil } } }
    var over: [APIWait] { events.withLock { $0 }.compactMap { if case .waitOver(let wait, _) = $0 { wait } else { nil } } }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let offset = Mutex<Duration>(.zero)
    private let origin = ContinuousClock.now
    var now: ContinuousClock.Instant { origin + offset.withLock { $0 } }
    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
}

@Suite struct WaitTrackerTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    func event(_ endpoint: String = "POST /tuning/finetunes", attempt: Int, reason: String = "connection refused",
               at offset: Double = 0) -> RetryEvent {
        let error = APIError(kind: .transport(.connect), endpoint: endpoint, message: reason)
        let at = Self.start.addingTimeInterval(offset)
        return RetryEvent(endpoint: endpoint, reason: "connect", attempt: attempt, maxAttempts: 8, delay: .seconds(2), error: error,
                          firstAttemptAt: Self.start, at: at, nextAttemptAt: at.addingTimeInterval(2),
                          givesUpAt: Self.start.addingTimeInterval(900))
    }

    @Test func theThrottleLogsTheFirstRetryThenAtMostOnceEvery30SecondsPerEndpoint() {
        let origin = ContinuousClock.now
        var throttle = WaitLogThrottle()
        func log(_ endpoint: String, _ offset: Duration) -> Bool { throttle.shouldLog(endpoint: endpoint, now: origin + offset) }
        #expect(log("a", .zero))
        #expect(!log("a", .seconds(1)))
        #expect(!log("a", .seconds(29)))
        #expect(log("b", .seconds(29)), "each endpoint has its own")
        #expect(log("a", .seconds(30)))
        #expect(!log("a", .seconds(59)))
        #expect(log("a", .seconds(61)))
    }

    @Test func aWaitIsLoggedAtItsFirstRetryThenEvery30SecondsAndWhenItEnds() {
        let clock = ManualClock()
        let recorder = EventRecorder()
        let tracker = WaitTracker(observer: recorder, now: { clock.now })
        let observer = tracker.retryObserver()
        observer(event(attempt: 1))
        #expect(recorder.waits.count == 1)
        for attempt in 2...6 {
            clock.advance(.seconds(5))
            observer(event(attempt: attempt, at: Double(attempt * 5)))
        }
        #expect(recorder.waits.count == 1, "a hot retry loop is one line, not one per retry")
        clock.advance(.seconds(6))
        observer(event(attempt: 7, at: 31))
        #expect(recorder.waits.count == 2)
        #expect(recorder.waits.last?.attempt == 7)
        #expect(recorder.waits.last?.since == Self.start, "the wait started at its first retry")
        #expect(tracker.current?.reason == "connection refused")
        observer.settled(endpoint: "POST /tuning/finetunes", attempts: 8, succeeded: true)
        #expect(tracker.current == nil)
        #expect(recorder.over.count == 1)
    }

    @Test func aWaitLastsWhileAnyCallToItsEndpointRetries() {
        let recorder = EventRecorder()
        let tracker = WaitTracker(observer: recorder)
        let observer = tracker.retryObserver()
        observer(event("POST /tuning/rollouts", attempt: 1, reason: "503"))
        observer(event("POST /tuning/rollouts", attempt: 1, reason: "503"))
        observer.settled(endpoint: "POST /tuning/rollouts", attempts: 2, succeeded: true)
        #expect(tracker.current?.what == "rollouts", "one of two calls is still retrying")
        observer.settled(endpoint: "POST /tuning/rollouts", attempts: 3, succeeded: true)
        #expect(tracker.current == nil)
        #expect(recorder.waits.count == 1)
    }

    @Test func theInDoubtWindowIsAWaitShownWhileItLasts() async throws {
        let recorder = EventRecorder()
        let tracker = WaitTracker(observer: recorder)
        let hold = APIWait(what: "train_step outcome in doubt", endpoint: "POST /tuning/train_step", since: Self.start,
                           reason: "its answer was lost and the server may still apply it", attempt: 0, maxAttempts: 0,
                           nextAttemptAt: nil, givesUpAt: Self.start.addingTimeInterval(30), atTheEnd: "asks the server")
        let inside = try await tracker.holding(hold) { tracker.current }
        #expect(inside == hold)
        #expect(tracker.current == nil)
        #expect(recorder.waits == [hold])
        #expect(hold.describe(now: Self.start).contains("its answer was lost and the server may still apply it; asks the server at "))
        #expect(hold.record.attempt == 0 && hold.record.nextAttemptMs == nil)
    }

    @Test func theLogLineSaysWhatWhyTheAttemptAndWhenItGivesUp() {
        let wait = APIWait(event(attempt: 3))
        let text = wait.describe(now: Self.start)
        #expect(text.hasPrefix("waiting for the API (create the finetune, POST /tuning/finetunes): connection refused; attempt 3 of 8, next in 2 s; gives up by "),
                "\(text)")
        #expect(text.hasSuffix("(in 15m00s)"), "\(text)")
        #expect(APIWait.what(endpoint: "POST /tuning/rollouts") == "rollouts")
        #expect(APIWait.what(endpoint: "POST /tuning/finetunes/01F/checkpoints/save") == "save a checkpoint")
        #expect(APIWait.what(endpoint: "GET /tuning/finetunes/01F/checkpoints") == "list checkpoints")
        #expect(APIWait.what(endpoint: "DELETE /tuning/finetunes/01F/checkpoints/3") == "delete a checkpoint")
        #expect(APIWait.what(endpoint: "GET /tuning/finetunes/01F") == "read the finetune")
        #expect(APIWait.what(endpoint: "POST /tuning/train_step") == "train_step")
    }

    @Test func theRecordGetsTheWaitTheLastErrorAndTheRetriesOnlyWhenTheyChange() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-waits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try ProgressStore(path: directory.appendingPathComponent("s.sqlite").path)
        let job = try await store.createJob(JobRecord(name: "w", configPath: "/c", configJSON: "{}", fingerprintJSON: "{}",
                                                      baseURL: "http://127.0.0.1:1/v1", apiKeyEnv: "K", totalSteps: 3, now: 1))
        let id = try #require(job.id)
        _ = try await store.markRunning(jobID: id, pid: 1, host: "h", totalSteps: 3, configJSON: "{}", configPath: "/c", now: 2)
        let tracker = WaitTracker(observer: SilentObserver())
        let observer = tracker.retryObserver()
        observer(event(attempt: 1))
        observer(event(attempt: 2, at: 2))
        try await tracker.flush(to: store, jobID: id)
        var record = try #require(try await store.job(id: id))
        #expect(record.waiting?.what == "create the finetune")
        #expect(record.waiting?.attempt == 2)
        #expect(record.waiting?.sinceMs == Int64(Self.start.timeIntervalSince1970 * 1000))
        #expect(record.waiting?.givesUpAtMs == Int64(Self.start.timeIntervalSince1970 * 1000) + 900_000)
        #expect(record.lastError == "POST /tuning/finetunes: connection refused")
        #expect(record.retriesOutsideSteps == 2)
        let updated = record.updatedAtMs
        try await tracker.flush(to: store, jobID: id)
        #expect(try await store.job(id: id)?.updatedAtMs == updated, "nothing changed: nothing written")

        // A step records one of them as its own: the job's count gives it back.
        tracker.recordedWithStep(1)
        observer.settled(endpoint: "POST /tuning/finetunes", attempts: 3, succeeded: true)
        try await tracker.flush(to: store, jobID: id)
        record = try #require(try await store.job(id: id))
        #expect(record.waitingJSON == nil)
        #expect(record.lastError == nil, "a call succeeded")
        #expect(record.retriesOutsideSteps == 1)
    }
}

@Suite struct FailFastMessageTests {
    func config() -> JobConfig {
        var api = APIConfig()
        api.baseURL = "http://nonexistent.invalid/v1"
        return JobConfig(name: "j", rank: 8, api: api, data: DataConfig(train: URL(fileURLWithPath: "/d/train.jsonl")),
                         train: TrainConfig(), checkpoint: CheckpointConfig(everySteps: 1),
                         sourceURL: URL(fileURLWithPath: "/d/config.json"))
    }

    @Test(arguments: [TransportFailure.unresolvable, .tls, .connect])
    func aFailureWaitingCannotFixNamesTheURLSetting(_ failure: TransportFailure) {
        let error = APIError(kind: .transport(failure), endpoint: "POST /tuning/finetunes", message: "the host nonexistent.invalid does not resolve")
        let text = JobRunner.explain(error, config: config())
        #expect(text.contains("api.base_url (http://nonexistent.invalid/v1)"), "\(text)")
        #expect(text.contains(failure == .connect ? "api.give_up_after_s" : "waiting cannot help"), "\(text)")
    }

    @Test func aRefusedKeyStillNamesItsVariable() {
        let error = APIError(kind: .unauthorized, endpoint: "POST /tuning/finetunes", status: 401, message: "bad key")
        #expect(JobRunner.explain(error, config: config()).contains("The API key in $MOONDREAM_API_KEY was refused"))
    }
}
