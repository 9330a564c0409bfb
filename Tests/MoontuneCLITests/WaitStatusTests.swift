import Foundation
import MoondreamAPI
import MoontuneLoop
@testable import MoontuneCLI
@testable import MoontuneConsole
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

/// How a wait on the API shows in `status` and in the log.
@Suite struct WaitStatusTests {
    let wait = WaitRecord(what: "create the finetune", endpoint: "POST /tuning/finetunes", sinceMs: 1_000_000,
                          lastError: "connection refused", attempt: 4, nextAttemptMs: 1_003_000, givesUpAtMs: 1_900_000)

    func report(waiting: WaitRecord?, stopReason: String?, state: String = "running") -> JobStatusReport {
        JobStatusReport(name: "w", finetuneID: nil, state: state, step: 0, totalSteps: 3, lastCheckpointStep: nil, rewardMean: nil,
                        pid: 7, updatedAtMs: 0, lastError: "POST /tuning/finetunes: connection refused", waiting: waiting,
                        stopReason: stopReason, host: nil, heartbeatMs: nil, heartbeatAgeSeconds: nil, startedAtMs: 0,
                        createdAtMs: 0, stepsPerMinute: nil, etaSeconds: nil, rewardStd: nil, recentRewardMeans: [], rewardTrend: [],
                        perSkill: [:], lastEval: nil, checkpoints: [], retries: 4, reconciliations: 0, pendingIntent: nil,
                        baseURL: "http://127.0.0.1:1/v1", configPath: "/c.json")
    }

    func job(_ json: String) throws -> [String: Any] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return try #require((document["jobs"] as? [[String: Any]])?.first)
    }

    @Test func statusJSONShowsTheWaitTheLastErrorAndTheStopReason() throws {
        let waiting = try job(try StatusDocument(jobs: [report(waiting: wait, stopReason: nil)]).encoded())
        let object = try #require(waiting["waiting"] as? [String: Any])
        #expect(Set(object.keys) == ["what", "endpoint", "since_ms", "last_error", "attempt", "next_attempt_ms", "gives_up_at_ms"])
        #expect(object["what"] as? String == "create the finetune")
        #expect(object["last_error"] as? String == "connection refused")
        #expect(object["next_attempt_ms"] as? Int == 1_003_000)
        #expect(waiting["last_error"] as? String == "POST /tuning/finetunes: connection refused")
        #expect(waiting["stop_reason"] is NSNull)

        let stopped = try job(try StatusDocument(jobs: [report(waiting: nil, stopReason: "signal", state: "stopped")]).encoded())
        #expect(stopped["waiting"] is NSNull, "null, not missing")
        #expect(stopped["stop_reason"] as? String == "signal")
    }

    @Test func theHumanStatusShowsTheWaitInOneLine() {
        let text = StatusText.detail(report(waiting: wait, stopReason: nil), events: [])
        let line = text.split(separator: "\n").first { $0.contains("waiting") }.map(String.init) ?? ""
        #expect(line.contains("for the API (create the finetune, POST /tuning/finetunes) since "), "\(text)")
        #expect(line.contains(": connection refused; attempt 4"), "\(line)")
        #expect(line.contains("gives up by"), "\(line)")
        let stopped = StatusText.detail(report(waiting: nil, stopReason: "signal", state: "stopped"), events: [])
        #expect(!stopped.contains("  waiting"))
        #expect(stopped.contains("stopped    by a signal"), "\(stopped)")
    }

    @Test func theRetriesOfStatusCountThoseOutsideSteps() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-wait-status-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.sqlite").path
        let store = try ProgressStore(path: path)
        let id = try #require(try await store.createJob(JobRecord(name: "w", configPath: "/c", configJSON: "{}", fingerprintJSON: "{}",
                                                                  baseURL: "u", apiKeyEnv: "K", totalSteps: 3, now: 1)).id)
        _ = try await store.markRunning(jobID: id, pid: 1, host: "h", totalSteps: 3, configJSON: "{}", configPath: "/c", now: 2)
        try await store.recordWaiting(jobID: id, wait, lastError: "POST /tuning/finetunes: connection refused", retriesOutsideSteps: 5, now: 3)
        let record = try #require(try await store.job(id: id))
        let report = try await JobStatusReport.load(record, store: store, databasePath: path, now: 100_000)
        #expect(report.retries == 5)
        #expect(report.waiting == nil, "a runner whose heartbeat is stale (interrupted) waits for nothing")
        #expect(report.lastError == "POST /tuning/finetunes: connection refused")
    }

    @Test func offATerminalAWaitIsOneWarningLineWithItsFieldsAndEachRetryOnlyWhenVerbose() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: false, format: .logfmt, verbosity: .normal, job: "w",
                                       redactor: SecretRedactor(secrets: []), write: capture.write)
        let error = APIError(kind: .rateLimited, endpoint: "POST /tuning/rollouts", status: 429, message: "", retryAfter: .seconds(20))
        let event = RetryEvent(endpoint: "POST /tuning/rollouts", reason: "rate_limited", attempt: 1, maxAttempts: 8,
                               delay: .seconds(20), error: error)
        observer.record(.retry(event))
        #expect(capture.output.isEmpty, "a single retry is not a line at normal verbosity")
        observer.record(.waiting(APIWait(event)))
        let line = capture.output
        #expect(line.contains("level=warn job=w event=waiting what=rollouts endpoint=\"POST /tuning/rollouts\""), "\(line)")
        #expect(line.contains("reason=\"429, Retry-After 20 s\" attempt=1 max_attempts=8"), "\(line)")
        #expect(line.contains("gives_up_at="), "\(line)")
        #expect(line.split(separator: "\n").count == 1)
    }

    @Test func onATerminalAWaitPrintsItsSentenceAboveTheLiveLine() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: true, format: .logfmt, verbosity: .normal, job: "w",
                                       redactor: SecretRedactor(secrets: []), write: capture.write)
        let error = APIError(kind: .transport(.connect), endpoint: "POST /tuning/finetunes", message: "connection refused")
        observer.record(.waiting(APIWait(RetryEvent(endpoint: "POST /tuning/finetunes", reason: "connect", attempt: 1, maxAttempts: 8,
                                                    delay: .seconds(1), error: error))))
        #expect(capture.output.contains("waiting for the API (create the finetune, POST /tuning/finetunes): connection refused; attempt 1 of 8"),
                "\(capture.output)")
    }

    @Test func theStopMessageSaysWhetherAStepIsInFlight() {
        let capture = Capture()
        let observer = ConsoleObserver(interactive: false, format: .logfmt, verbosity: .normal, job: "w",
                                       redactor: SecretRedactor(secrets: []), write: capture.write)
        observer.stopRequested(by: "SIGTERM")
        #expect(capture.output.contains("SIGTERM received: no step in flight: stopping now"), "\(capture.output)")
        observer.record(.trainStep(inFlight: 7))
        observer.stopRequested(by: "SIGINT")
        #expect(capture.output.contains("SIGINT received: finishing step 7 in flight, then stopping"), "\(capture.output)")
        observer.record(.trainStep(inFlight: nil))
        observer.stopRequested(by: "SIGTERM")
        #expect(capture.output.components(separatedBy: "no step in flight").count == 3)
        // A train_step backing off after a 429 is not in flight: the stop ends the backoff.
        observer.record(.trainStep(inFlight: 8))
        let error = APIError(kind: .rateLimited, endpoint: "POST /tuning/train_step", status: 429, message: "", retryAfter: .seconds(120))
        observer.record(.retry(RetryEvent(endpoint: "POST /tuning/train_step", reason: "rate_limited", attempt: 1, delay: .seconds(120),
                                          error: error)))
        observer.stopRequested(by: "SIGTERM")
        #expect(capture.output.components(separatedBy: "no step in flight").count == 4, "\(capture.output)")
    }
}
