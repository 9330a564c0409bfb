import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// Issue 15: every wait on the API is visible in the log and in `status` within seconds, and
    /// a graceful stop ends any wait but a train_step's within 5 s; what waiting cannot fix
    /// fails at once. All on the real binary, against 127.0.0.1 only.
    @Suite struct WaitTests {
        /// A TCP port on 127.0.0.1 that refuses connections: bound, never listening, held for the
        /// test so that nobody else takes it.
        final class ClosedPort: Sendable {
            let port: Int
            private let descriptor: Int32

            init() throws {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                guard fd >= 0 else { throw FixtureError("socket: \(errno)") }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = 0
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard bound == 0 else { close(fd); throw FixtureError("bind: \(errno)") }
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                _ = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }
                port = Int(UInt16(bigEndian: address.sin_port))
                descriptor = fd
            }

            var baseURL: String { "http://127.0.0.1:\(port)/v1" }

            deinit { close(descriptor) }
        }

        func config(_ workspace: Workspace, name: String, baseURL: String? = nil, steps: Int = 3) throws {
            var api: [String: Any] = ["max_backoff_s": 2, "give_up_after_s": 900, "max_attempts": 100]
            if let baseURL { api["base_url"] = baseURL }
            try workspace.writeConfig(name: name, steps: steps, groups: 2, rollouts: 2, concurrency: 2, every: 2, extraAPI: api)
        }

        /// Waits for the process to end, or kills it at the deadline (recorded as an issue).
        func finish(_ running: MoontuneProcess.Running, within timeout: Duration) async -> (MoontuneProcess.Result, Duration) {
            let started = ContinuousClock.now
            let result = await withTaskGroup(of: MoontuneProcess.Result?.self) { group in
                group.addTask { await running.wait() }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                if let first {
                    group.cancelAll()
                    return first
                }
                Issue.record("moontune did not end within \(timeout); killed")
                running.signal(SIGKILL)
                var ended: MoontuneProcess.Result?
                for await result in group where result != nil { ended = result }
                return ended ?? MoontuneProcess.Result(status: -1, reason: .uncaughtSignal, stdout: "", stderr: "")
            }
            return (result, ContinuousClock.now - started)
        }

        /// Polls until `condition` holds, or records an issue at the deadline.
        func eventually(_ what: String, within timeout: Duration = .seconds(5),
                        _ condition: () async throws -> Bool) async rethrows -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if try await condition() { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("\(what) not within \(timeout)")
            return false
        }

        func waitingLines(_ text: String) -> [[String: String]] {
            text.split(separator: "\n").compactMap { Operations.parseLogfmt(String($0)) }.filter { $0["event"] == "waiting" }
        }

        /// The wait shows in the log and in `status --json`; SIGTERM ends it within 5 s, `stopped`.
        func seeTheWaitThenStop(_ workspace: Workspace, name: String, reason: String, endpoint: String) async throws {
            let running = try workspace.start(["run", "config.json"])
            let logged = await eventually("a waiting line in the log") { !waitingLines(running.stdoutSoFar).isEmpty }
            if logged, let line = waitingLines(running.stdoutSoFar).first {
                #expect(line["reason"] == reason, "\(line)")
                #expect(line["endpoint"] == endpoint, "\(line)")
                #expect(line["what"] != nil && line["attempt"] != nil && line["gives_up_at"] != nil, "\(line)")
                #expect(line["job"] == name)
            }
            var shown: [String: Any] = [:]
            _ = try await eventually("the wait in status --json") {
                guard FileManager.default.fileExists(atPath: workspace.database.path) else { return false }
                shown = try await Operations.status(workspace, job: name)
                return shown["waiting"] is [String: Any]
            }
            let waiting = shown["waiting"] as? [String: Any] ?? [:]
            #expect(shown["state"] as? String == "running")
            #expect(waiting["last_error"] as? String == reason, "\(waiting)")
            #expect(waiting["endpoint"] as? String == endpoint)
            #expect(waiting["since_ms"] is Int && waiting["gives_up_at_ms"] is Int && waiting["next_attempt_ms"] is Int, "\(waiting)")
            #expect((shown["last_error"] as? String)?.contains(reason) == true, "\(shown["last_error"] ?? "nil")")
            #expect((shown["retries"] as? Int ?? 0) >= 1, "the retries are counted")
            let human = try await workspace.run(["status", name])
            #expect(human.stdout.contains("waiting    for the API"), "\(human.stdout)")

            running.signal(SIGTERM)
            let (result, took) = await finish(running, within: .seconds(15))
            #expect(took < .seconds(5), "SIGTERM took \(took) to end the wait")
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("no step in flight: stopping now"), "\(result.stdout)")
            #expect(!result.stdout.contains("finishing the step"))
            let stopped = try await Operations.status(workspace, job: name)
            #expect(stopped["state"] as? String == "stopped")
            #expect(stopped["stop_reason"] as? String == "signal")
            #expect(stopped["waiting"] is NSNull)
            #expect(!(result.stdout + result.stderr).contains(MoontuneProcess.apiKey))
        }

        @Test func anUnreachableAPIIsAVisibleWaitThatSIGTERMEnds() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                let closed = try ClosedPort()
                try config(workspace, name: "dead", baseURL: closed.baseURL)
                try await seeTheWaitThenStop(workspace, name: "dead", reason: "connection refused", endpoint: "POST /tuning/finetunes")
                withExtendedLifetime(closed) {}
            }
        }

        @Test func aServerAnswering503IsAVisibleWaitThatSIGTERMEnds() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                try config(workspace, name: "outage")
                try await workspace.control("outage", ["seconds": 600, "status": 503])
                try await seeTheWaitThenStop(workspace, name: "outage", reason: "503", endpoint: "POST /tuning/finetunes")
            }
        }

        @Test func aLongRetryAfterIsAVisibleWaitThatStopEnds() async throws {
            var faults = FaultOptions()
            faults.retryAfterSeconds = 120
            try await withWorkspace(skills: ["point"], images: 4, faults: faults) { workspace in
                try config(workspace, name: "limited")
                try await workspace.control("outage", ["seconds": 600, "status": 429])
                try await seeTheWaitThenStop(workspace, name: "limited", reason: "429, Retry-After 120 s", endpoint: "POST /tuning/finetunes")
            }
        }

        @Test func moontuneStopEndsARetryAfterWaitOfABackgroundJob() async throws {
            var faults = FaultOptions()
            faults.retryAfterSeconds = 120
            try await withWorkspace(skills: ["point"], images: 4, faults: faults) { workspace in
                try config(workspace, name: "bg")
                try await workspace.control("outage", ["seconds": 600, "status": 429])
                let started = try await workspace.run(["start", "config.json"])
                #expect(started.status == 0, "\(started.stderr)")
                let log = workspace.directory.appendingPathComponent("bg.log")
                _ = await eventually("a waiting line in the job's log") {
                    waitingLines((try? String(contentsOf: log, encoding: .utf8)) ?? "").first?["reason"] == "429, Retry-After 120 s"
                }
                let clock = ContinuousClock.now
                let stop = try await workspace.run(["stop", "bg", "--timeout", "20"])
                #expect(ContinuousClock.now - clock < .seconds(5), "moontune stop took \(ContinuousClock.now - clock)")
                #expect(stop.status == 0, "\(stop.stderr)")
                #expect(stop.stdout.contains("bg stopped at step 0"), "\(stop.stdout)")
                let job = try await Operations.status(workspace, job: "bg")
                #expect(job["stop_reason"] as? String == "signal")
                #expect((job["last_error"] as? String)?.contains("429") == true, "a stop keeps the error it saw")
            }
        }

        @Test func aWaitMidRunEndsOnSIGTERMWithNothingLostOrDoubled() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 30
            try await withWorkspace(skills: ["point"], images: 4, faults: faults) { workspace in
                try config(workspace, name: "mid", steps: 60)
                let running = try workspace.start(["run", "config.json"])
                try await waitForStep(workspace, "mid", atLeast: 2)
                try await workspace.control("outage", ["seconds": 600, "status": 503])
                _ = await eventually("a waiting line mid-run", within: .seconds(8)) { !waitingLines(running.stdoutSoFar).isEmpty }
                running.signal(SIGTERM)
                let (result, took) = await finish(running, within: .seconds(30))
                #expect(took < .seconds(5), "SIGTERM took \(took) to end the wait")
                #expect(result.status == 0, "\(result.stderr)")
                let job = try await Operations.status(workspace, job: "mid")
                #expect(job["state"] as? String == "stopped")
                #expect(job["stop_reason"] as? String == "signal")
                let step = try #require(job["step"] as? Int)
                #expect(step >= 2 && step < 60)
                try await workspace.control("outage", ["seconds": 0, "status": 503])
                #expect(await workspace.finetune("mid")?.trainStepsApplied == step, "the record and the server agree")

                // The next run picks up exactly there (reconciling a train_step the stop cut short).
                let resumed = try workspace.start(["run", "config.json", "--quiet"])
                let (again, _) = await finish(resumed, within: .seconds(120))
                #expect(again.status == 0, "\(again.stderr)")
                #expect(await workspace.finetune("mid")?.trainStepsApplied == 60)
                #expect(try await workspace.steps("mid").map(\.k) == Array(1...60))
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test func aTrainStepBackingOffAfterA429IsStoppedWithItsIntentDropped() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                let limited = HostileAnswer(status: 429, body: Array(#"{"error":{"message":"slow down"}}"#.utf8),
                                            retryAfter: "120")
                try await HostileServer.with({ $0 == .trainStep ? limited : nil }) { server, baseURL in
                    try workspace.writeConfig(name: "held", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 1,
                                              extraAPI: ["base_url": baseURL, "max_attempts": 100, "give_up_after_s": 900])
                    let running = try workspace.start(["run", "config.json"])
                    _ = await eventually("a waiting line for train_step", within: .seconds(10)) {
                        waitingLines(running.stdoutSoFar).contains { $0["endpoint"] == "POST /tuning/train_step" }
                    }
                    let line = waitingLines(running.stdoutSoFar).first { $0["endpoint"] == "POST /tuning/train_step" }
                    #expect(line?["reason"] == "429, Retry-After 120 s", "\(line ?? [:])")
                    running.signal(SIGTERM)
                    let (result, took) = await finish(running, within: .seconds(30))
                    #expect(took < .seconds(5), "SIGTERM took \(took) during a train_step's Retry-After")
                    #expect(result.status == 0, "\(result.stderr)")
                    #expect(result.stdout.contains("no step in flight: stopping now"), "\(result.stdout)")
                    let job = try await Operations.status(workspace, job: "held")
                    #expect(job["state"] as? String == "stopped")
                    #expect(job["stop_reason"] as? String == "signal")
                    #expect(job["step"] as? Int == 0)
                    #expect(job["pending_intent"] is NSNull, "a train_step that backed off after a 429 never landed: no intent is left in doubt")
                    #expect(server.step == 0)
                }
            }
        }

        @Test func aHostThatDoesNotResolveFailsAtOnceNamingTheSetting() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                try config(workspace, name: "nowhere", baseURL: "http://nonexistent.invalid/v1")
                let running = try workspace.start(["run", "config.json"])
                let (result, took) = await finish(running, within: .seconds(30))
                #expect(took < .seconds(5), "took \(took)")
                #expect(result.status == 1)
                #expect(!result.killedBySignal)
                #expect(result.stderr.contains("api.base_url"), "\(result.stderr)")
                #expect(result.stderr.contains("nonexistent.invalid"), "\(result.stderr)")
                let job = try await Operations.status(workspace, job: "nowhere")
                #expect(job["state"] as? String == "failed")
                #expect((job["last_error"] as? String)?.contains("api.base_url") == true)
                #expect((job["retries"] as? Int) == 0, "nothing to retry")
            }
        }

        @Test func aTLSHandshakeThatFailsFailsAtOnceNamingTheSetting() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                // The simulator speaks plain HTTP: a TLS client gets no handshake it can accept.
                let https = workspace.simulator.baseURL.replacingOccurrences(of: "http://", with: "https://")
                try config(workspace, name: "tls", baseURL: https)
                let running = try workspace.start(["run", "config.json"])
                let (result, took) = await finish(running, within: .seconds(30))
                #expect(took < .seconds(5), "took \(took)")
                #expect(result.status == 1)
                #expect(result.stderr.contains("TLS failed: the TLS handshake was refused"), "\(result.stderr)")
                #expect(result.stderr.contains("Check api.base_url (\(https))"), "\(result.stderr)")
                #expect((try await Operations.status(workspace, job: "tls"))["retries"] as? Int == 0)
            }
        }

        @Test func aRefusedKeyStillFailsAtOnceWithItsClearMessage() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                try config(workspace, name: "badkey")
                let running = try MoontuneProcess.start(["run", "config.json", "--db", workspace.database.path], in: workspace.directory,
                                                        environment: ["MOONDREAM_API_KEY": "sk-wrong-KEY-987"])
                let (result, took) = await finish(running, within: .seconds(30))
                #expect(took < .seconds(5), "took \(took)")
                #expect(result.status == 1)
                #expect(result.stderr.contains("The API key in $MOONDREAM_API_KEY was refused"), "\(result.stderr)")
                #expect(!(result.stdout + result.stderr).contains("sk-wrong-KEY-987"))
                #expect(await workspace.simulator.stats().requestsTotal <= 1, "a 401 is never retried")
            }
        }

        @Test func validateCheckAPISaysWhetherTheURLAnswersAndTheKeyIsAccepted() async throws {
            try await withWorkspace(skills: ["point"], images: 4) { workspace in
                try config(workspace, name: "check")
                let plain = try await MoontuneProcess.run(["validate", "config.json"], in: workspace.directory)
                #expect(plain.status == 0, "\(plain.stderr)")
                #expect(await workspace.simulator.stats().requestsTotal == 0, "validate alone calls nothing")

                let ok = try await MoontuneProcess.run(["validate", "config.json", "--check-api"], in: workspace.directory)
                #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
                #expect(ok.stdout.contains("ok: the API at \(workspace.simulator.baseURL) answers; the key in $MOONDREAM_API_KEY is accepted"),
                        "\(ok.stdout)")
                #expect(await workspace.simulator.stats().requestsTotal == 1, "one cheap call")

                let wrong = try await MoontuneProcess.run(["validate", "config.json", "--check-api"], in: workspace.directory,
                                                          environment: ["MOONDREAM_API_KEY": "sk-wrong-KEY-987"])
                #expect(wrong.status == 1)
                #expect(wrong.stdout.contains("refused the key in $MOONDREAM_API_KEY"), "\(wrong.stdout)")
                #expect(!(wrong.stdout + wrong.stderr).contains("sk-wrong-KEY-987"))
                #expect(!(ok.stdout + ok.stderr).contains(MoontuneProcess.apiKey))

                let closed = try ClosedPort()
                try config(workspace, name: "check", baseURL: closed.baseURL)
                let clock = ContinuousClock.now
                let unreachable = try await MoontuneProcess.run(["validate", "config.json", "--check-api"], in: workspace.directory)
                #expect(ContinuousClock.now - clock < .seconds(10))
                #expect(unreachable.status == 1)
                #expect(unreachable.stdout.contains("api.base_url: nothing answers at \(closed.baseURL) (connection refused)"),
                        "\(unreachable.stdout)")
                withExtendedLifetime(closed) {}
            }
        }
    }
}
