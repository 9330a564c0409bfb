import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `moontune submit` and `moontune serve` (issue 13) on the real binary against the simulator.
    @Suite struct ServeTests {
        static func slowSimulator(train: Int = 30) -> FaultOptions {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 20
            faults.trainLatencyMs = train
            faults.otherLatencyMs = 5
            return faults
        }

        /// Writes and submits `count` jobs `serve-1`... of `steps` steps each.
        static func submitJobs(_ workspace: Workspace, count: Int, steps: Int, concurrency: Int = 3,
                               priorities: [Int] = []) async throws -> [String] {
            var names: [String] = []
            for index in 1...count {
                let name = "serve-\(index)"
                try workspace.writeConfig(name: name, steps: steps, groups: 3, rollouts: 2, concurrency: concurrency, every: 4,
                                          seed: index, file: "\(name).json")
                let priority = index <= priorities.count ? priorities[index - 1] : 0
                let submitted = try await workspace.run(["submit", "\(name).json", "--priority", "\(priority)"])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                names.append(name)
            }
            return names
        }

        /// The "done when" of issue 13.
        @Test func sixJobsUnderMaxJobs3AndMaxInFlight6CompleteExactlyAfterAKill9Halfway() async throws {
            try await withWorkspace(try await Workspace.make(seed: 5, faults: Self.slowSimulator())) { workspace in
                let steps = 24
                let names = try await Self.submitJobs(workspace, count: 6, steps: steps)
                let queued = try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs()
                #expect(queued.count == 6 && queued.allSatisfy { $0.state == .queued })
                let listed = try await workspace.run(["status", "--json"])
                #expect(listed.stdout.components(separatedBy: "\"state\" : \"queued\"").count == 7, "status shows queued: \(listed.stdout)")

                var mostRunning = 0
                let first = try await ServeProcess.start(workspace, ["--max-jobs", "3", "--max-in-flight", "6"])
                try await first.until(timeout: .seconds(120), "half of all steps", watch: { mostRunning = max(mostRunning, $0.count(in: "running")) }) {
                    // Past half of all steps, with jobs mid-way (not between two batches of the queue).
                    $0.totalSteps >= names.count * steps / 2 && $0.values.contains { job in
                        job["state"] as? String == "running" && (job["step"] as? Int ?? 0) >= 2 && (job["step"] as? Int ?? 0) < steps - 2
                    }
                }
                let atKill = try await first.jobs()
                let killed = await first.kill()
                #expect(killed.killedBySignal)
                #expect(atKill.count(in: "running") >= 1 && atKill.count(in: "completed") < names.count, "killed too late: \(atKill.states())")

                let second = try await ServeProcess.start(workspace, ["--max-jobs", "3", "--max-in-flight", "6"])
                try await second.until(timeout: .seconds(180), "every job completed", watch: { mostRunning = max(mostRunning, $0.count(in: "running")) }) {
                    $0.count(in: "completed") == names.count
                }
                let (_, metrics) = try await second.get("/metrics")
                let peak = metrics.split(separator: "\n").first { $0.hasPrefix("moontune_requests_in_flight_peak ") }
                #expect(peak.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 <= 6 } == true, "\(String(describing: peak))")
                let stopped = await second.terminate()
                #expect(stopped.status == 0 && !stopped.killedBySignal, "\(stopped.stderr)")

                #expect(mostRunning <= 3, "more than 3 jobs ran at once")
                #expect(mostRunning >= 2, "the queue never ran jobs side by side")
                let stats = await workspace.simulator.stats()
                #expect(stats.maxInFlight <= 6, "the simulator saw \(stats.maxInFlight) requests in flight")
                #expect(stats.doubleApplications == 0)
                for name in names {
                    let recorded = try await workspace.steps(name)
                    #expect(recorded.map(\.k) == Array(1...steps), "\(name)")
                    #expect(recorded.allSatisfy { $0.state == .applied })
                    #expect(await workspace.finetune(name)?.trainStepsApplied == steps, "\(name)")
                }
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let resumed = try await store.allJobs()
                #expect(resumed.allSatisfy { $0.state == .completed })
                // The jobs the killed daemon was running were taken again by the next one.
                var crashResumed = 0
                for job in resumed { crashResumed += try await store.events(jobID: job.id!).filter { $0.kind == "crashed-and-resumed" }.count }
                #expect(crashResumed >= 1, "no job was resumed after the kill")
            }
        }

        @Test func submitValidatesLikeStartAndQueuesAgainButNeverACompletedOrRunningJob() async throws {
            try await withWorkspace(try await Workspace.make(seed: 6)) { workspace in
                // Bad input: the located error, exit 2, nothing recorded.
                try "{\"name\": \"bad\", \"rank\": 8}".write(to: workspace.directory.appendingPathComponent("bad.json"), atomically: true, encoding: .utf8)
                let bad = try await workspace.run(["submit", "bad.json"])
                #expect(bad.status == 2)
                #expect(bad.stderr.contains("bad.json"), "\(bad.stderr)")
                if FileManager.default.fileExists(atPath: workspace.database.path) {
                    #expect(try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs().isEmpty)
                }

                try workspace.writeConfig(name: "q", steps: 3, every: 3)
                let first = try await workspace.run(["submit", "config.json"])
                #expect(first.status == 0, "\(first.stderr)")
                #expect(first.stdout.contains("q"))
                #expect(try await workspace.job("q")?.state == .queued)
                // `run` of a queued job runs it (one runner: the lock); then submit is a no-op.
                let ran = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(ran.status == 0, "\(ran.stderr)")
                let again = try await workspace.run(["submit", "config.json"])
                #expect(again.status == 0)
                #expect(again.stdout.contains("already complete"), "\(again.stdout)")
                #expect(try await workspace.job("q")?.state == .completed)

                // A running job is refused.
                try workspace.writeConfig(name: "long", steps: 400, every: 100, file: "long.json")
                let running = try workspace.start(["run", "long.json", "--quiet"])
                try await workspace.waitForJob("long", .running)
                let refused = try await workspace.run(["submit", "long.json"])
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("already running"), "\(refused.stderr)")
                running.signal(SIGTERM)
                _ = await ServeProcess.wait(running, timeout: .seconds(60))
                // Stopped: queued again.
                let requeued = try await workspace.run(["submit", "long.json", "--priority", "3"])
                #expect(requeued.status == 0, "\(requeued.stderr)")
                #expect(requeued.stdout.contains("again"), "\(requeued.stdout)")
                #expect(try await workspace.job("long")?.state == .queued)
            }
        }

        @Test func stopStopsOneServedJobGracefullyAndSigtermStopsEveryJobThenExits0() async throws {
            try await withWorkspace(try await Workspace.make(seed: 7, faults: Self.slowSimulator(train: 200))) { workspace in
                let names = try await Self.submitJobs(workspace, count: 3, steps: 400)
                let serve = try await ServeProcess.start(workspace, ["--max-jobs", "3", "--max-in-flight", "6"])
                try await serve.until(timeout: .seconds(60), "three running jobs with a step each") { jobs in
                    jobs.count(in: "running") == 3 && jobs.values.allSatisfy { ($0["step"] as? Int ?? 0) >= 1 }
                }
                // One runner per job: `run` of a served job is refused, and leaves it alone.
                let second = try await workspace.run(["run", "serve-1.json", "--quiet"])
                #expect(second.status == 1)
                #expect(second.stderr.contains("already running"), "\(second.stderr)")

                let stop = try await workspace.run(["stop", "serve-2", "--timeout", "60"])
                #expect(stop.status == 0, "\(stop.stderr)")
                #expect(stop.stdout.contains("stopped"), "\(stop.stdout)")
                let afterStop = try await serve.jobs()
                #expect(afterStop["serve-2"]?["state"] as? String == "stopped")
                #expect(afterStop["serve-2"]?["stop_reason"] as? String == "signal")
                #expect(afterStop.count(in: "running") == 2, "\(afterStop.states())")
                #expect(serve.process.process.value.isRunning)

                let ended = await serve.terminate()
                #expect(ended.status == 0 && !ended.killedBySignal, "\(ended.stderr)")
                let jobs = try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs()
                #expect(jobs.allSatisfy { $0.state == .stopped }, "\(jobs.map { "\($0.name) \($0.state)" })")
                for name in names {
                    let recorded = try await workspace.steps(name)
                    #expect(recorded.allSatisfy { $0.state == .applied }, "\(name) left an intent behind")
                    #expect(await workspace.finetune(name)?.trainStepsApplied == recorded.count)
                }
            }
        }

        /// `stop` of a job still waiting in the queue takes it out: serve never starts it, and
        /// `submit` queues it again.
        @Test func stopOfAQueuedJobTakesItOutOfTheQueueAndSubmitQueuesItAgain() async throws {
            try await withWorkspace(try await Workspace.make(seed: 11)) { workspace in
                try workspace.writeConfig(name: "waiting", steps: 3, every: 3, file: "waiting.json")
                try workspace.writeConfig(name: "other", steps: 3, every: 3, seed: 2, file: "other.json")
                for file in ["waiting.json", "other.json"] {
                    let submitted = try await workspace.run(["submit", file])
                    #expect(submitted.status == 0, "\(submitted.stderr)")
                }
                let stop = try await workspace.run(["stop", "waiting"])
                #expect(stop.status == 0, "\(stop.stderr)")
                #expect(stop.stdout.contains("taken out of the queue"), "\(stop.stdout)")
                let stopped = try #require(try await workspace.job("waiting"))
                #expect(stopped.state == .stopped)
                #expect(stopped.stopReason == "signal")

                // serve runs the other job to the end and leaves the stopped one alone.
                let serve = try await ServeProcess.start(workspace)
                try await serve.until(timeout: .seconds(60), "the other job completed") { $0["other"]?["state"] as? String == "completed" }
                #expect(try await serve.jobs()["waiting"]?["state"] as? String == "stopped")
                #expect(await workspace.finetune("waiting") == nil, "serve started a job that was taken out of the queue")

                // Submitted again, it is queued and serve runs it.
                let again = try await workspace.run(["submit", "waiting.json"])
                #expect(again.status == 0, "\(again.stderr)")
                try await serve.until(timeout: .seconds(60), "the requeued job completed") { $0["waiting"]?["state"] as? String == "completed" }
                #expect(try await workspace.steps("waiting").count == 3)
                let ended = await serve.terminate()
                #expect(ended.status == 0, "\(ended.stderr)")
            }
        }

        /// The first SIGTERM sees the train_step in flight through; a second one ends serve at
        /// once, and the jobs resume exactly when serve starts again.
        @Test func aSecondSigtermEndsServeAtOnceAndItsJobsResumeExactly() async throws {
            var faults = Self.slowSimulator(train: 20)
            faults.slowTrainRate = 1
            faults.slowTrainMs = 6_000
            try await withWorkspace(try await Workspace.make(seed: 12, faults: faults)) { workspace in
                // The in-doubt window covers the slow step, so the resumed job waits for it to land.
                try workspace.writeConfig(name: "slow", steps: 2, every: 2, extraAPI: ["in_doubt_wait_s": 30])
                let submitted = try await workspace.run(["submit", "config.json"])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let serve = try await ServeProcess.start(workspace)
                // Its first train_step is in flight (the intent is recorded), and takes 6 s.
                let deadline = ContinuousClock.now + .seconds(60)
                while try await workspace.steps("slow").first(where: { $0.state == .intent }) == nil {
                    guard ContinuousClock.now < deadline else { throw ServeProcess.Timeout(description: "no train_step in flight") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                serve.process.signal(SIGTERM)
                // The first signal is reported; serve is still waiting for the train_step.
                let reported = ContinuousClock.now + .seconds(10)
                while !serve.process.stderrSoFar.contains("stopping every job gracefully") {
                    guard ContinuousClock.now < reported else { throw ServeProcess.Timeout(description: "the first SIGTERM was not reported") }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(serve.process.process.value.isRunning)
                let sent = ContinuousClock.now
                let ended = await serve.terminate(timeout: .seconds(10))
                #expect(ContinuousClock.now - sent < .seconds(5), "a second SIGTERM did not end serve at once")
                #expect(ended.status == 130, "\(ended.status) \(ended.stderr)")
                #expect(ended.stderr.contains("second signal"), "\(ended.stderr)")

                // Started again, serve resumes the job, which ends with every step applied once.
                let again = try await ServeProcess.start(workspace)
                try await again.until(timeout: .seconds(120), "the job completed") { $0["slow"]?["state"] as? String == "completed" }
                let recorded = try await workspace.steps("slow")
                #expect(recorded.count == 2 && recorded.allSatisfy { $0.state == .applied })
                #expect(await workspace.finetune("slow")?.trainStepsApplied == 2)
                let closed = await again.terminate()
                #expect(closed.status == 0, "\(closed.stderr)")
            }
        }

        @Test func aJobThatRunHoldsIsSkippedByServeAndAJobThatFailsDoesNotDisturbTheOthers() async throws {
            try await withWorkspace(try await Workspace.make(seed: 8)) { workspace in
                try workspace.writeConfig(name: "held", steps: 400, every: 100, file: "held.json")
                let held = try await workspace.run(["submit", "held.json"])
                #expect(held.status == 0)
                let running = try workspace.start(["run", "held.json", "--quiet"])
                try await workspace.waitForJob("held", .running)
                // A job whose key the daemon lacks fails at its start; the others run on.
                try workspace.writeConfig(name: "nokey", steps: 2, extraAPI: ["api_key_env": "MOONTUNE_NO_SUCH_KEY"], file: "nokey.json")
                try workspace.writeConfig(name: "fine", steps: 3, every: 3, file: "fine.json")
                #expect(try await workspace.run(["submit", "nokey.json"]).status == 0)
                #expect(try await workspace.run(["submit", "fine.json"]).status == 0)
                let serve = try await ServeProcess.start(workspace, ["--max-jobs", "3"])
                try await serve.until(timeout: .seconds(60), "fine completed, nokey failed") { jobs in
                    jobs["fine"]?["state"] as? String == "completed" && jobs["nokey"]?["state"] as? String == "failed"
                }
                let jobs = try await serve.jobs()
                #expect((jobs["nokey"]?["last_error"] as? String)?.contains("MOONTUNE_NO_SUCH_KEY") == true)
                #expect(jobs["held"]?["pid"] as? Int == Int(running.pid), "serve took a job that run holds")
                running.signal(SIGTERM)
                _ = await ServeProcess.wait(running, timeout: .seconds(60))
                let ended = await serve.terminate()
                #expect(ended.status == 0)
            }
        }

        @Test func aJobSubmittedWhileServeRunsStartsWithinTwoSeconds() async throws {
            try await withWorkspace(try await Workspace.make(seed: 9)) { workspace in
                let serve = try await ServeProcess.start(workspace)
                try workspace.writeConfig(name: "late", steps: 3, every: 3)
                let submitted = ContinuousClock.now
                #expect(try await workspace.run(["submit", "config.json"]).status == 0)
                try await serve.until(timeout: .seconds(10), "late running") { jobs in
                    ["running", "completed"].contains(jobs["late"]?["state"] as? String ?? "")
                }
                #expect(ContinuousClock.now - submitted < .seconds(2.5))
                let (health, ok) = try await serve.get("/healthz")
                #expect(health == 200 && ok.hasPrefix("ok"))
                try await serve.until(timeout: .seconds(60), "late completed") { $0["late"]?["state"] as? String == "completed" }
                let (code, metrics) = try await serve.get("/metrics")
                #expect(code == 200)
                for series in ["moontune_job_step{job=\"late\"} 3", "moontune_job_total_steps{job=\"late\"} 3", "moontune_job_reward_mean{job=\"late\"}",
                               "moontune_job_state{job=\"late\",state=\"completed\"} 1", "moontune_requests_in_flight", "moontune_api_requests_total{"] {
                    #expect(metrics.contains(series), "no \(series) in /metrics")
                }
                #expect(!metrics.contains(MoontuneProcess.apiKey))
                let (_, jobs) = try await serve.get("/api/jobs")
                #expect(!jobs.contains(MoontuneProcess.apiKey))
                #expect(await serve.terminate().status == 0)
            }
        }

        @Test func anyAddressButLoopbackNeedsTheTokenAndARequestWithoutItGets401() async throws {
            try await withWorkspace(try await Workspace.make(seed: 10)) { workspace in
                let refused = try await MoontuneProcess.run(["serve", "--host", "0.0.0.0", "--port", "0", "--db", workspace.database.path],
                                                            in: workspace.directory, environment: ["MOONTUNE_SERVE_TOKEN": ""])
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("MOONTUNE_SERVE_TOKEN"), "\(refused.stderr)")
                try workspace.writeConfig(name: "t", steps: 2, every: 2)
                let serve = try await ServeProcess.start(workspace, ["--host", "0.0.0.0"], environment: ["MOONTUNE_SERVE_TOKEN": "tok-123"])
                let local = ServeProcess(process: serve.process, baseURL: serve.baseURL.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1"))
                #expect(try await local.get("/api/jobs").0 == 401)
                #expect(try await local.get("/metrics").0 == 401)
                #expect(try await local.get("/").0 == 401)
                #expect(try await local.get("/api/jobs", token: "wrong").0 == 401)
                #expect(try await local.get("/api/jobs", token: "tok-123").0 == 200)
                #expect(try await local.get("/healthz").0 == 200)
                #expect(await serve.terminate().status == 0)
            }
        }
    
        @Test func a429WithRetryAfterHoldsEveryJobOnTheKeyAndSetsItsPaceWhichStatusAndMetricsShow() async throws {
            // The simulator's limiter (issue 22): a token bucket of 15 a second for the key.
            var faults = Self.slowSimulator()
            faults.rateLimitPerSecond = 15
            try await withWorkspace(try await Workspace.make(seed: 13, faults: faults)) { workspace in
                let names = try await Self.submitJobs(workspace, count: 3, steps: 12, concurrency: 4)
                let serve = try await ServeProcess.start(workspace, ["--max-jobs", "3", "--max-in-flight", "8"])
                var paces: [Double] = []
                var heldSeen = false
                let deadline = ContinuousClock.now + .seconds(180)
                while ContinuousClock.now < deadline {
                    let (_, metrics) = try await serve.get("/metrics")
                    for line in metrics.split(separator: "\n") where line.hasPrefix("moontune_key_rate_limit_per_second{") {
                        if let pace = Double(line.split(separator: " ").last ?? ""), pace > 0 { paces.append(pace) }
                    }
                    for line in metrics.split(separator: "\n") where line.hasPrefix("moontune_key_held_seconds{") {
                        if (Double(line.split(separator: " ").last ?? "") ?? 0) > 0 { heldSeen = true }
                    }
                    if try await serve.jobs().count(in: "completed") == names.count { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let document = try await workspace.run(["status", "--json"])
                let parsed = try #require(try JSONSerialization.jsonObject(with: Data(document.stdout.utf8)) as? [String: Any])
                let budget = try #require((parsed["budget"] as? [[String: Any]])?.first, "status --json has no budget: \(document.stdout)")
                #expect(budget["max_budget"] as? Int == 8)
                #expect((budget["rate_limited"] as? Int ?? 0) > 0)
                #expect((budget["key_id"] as? String)?.count == 12)
                #expect(!document.stdout.contains(MoontuneProcess.apiKey))
                // The plain table shows the key's budget under the jobs, by key id.
                let plain = try await workspace.run(["status"])
                let keyID = try #require(budget["key_id"] as? String)
                #expect(plain.stdout.contains("request budgets of serve, by API key id:"), "\(plain.stdout)")
                #expect(plain.stdout.contains(keyID) && plain.stdout.contains("/8"), "\(plain.stdout)")
                #expect(!plain.stdout.contains(MoontuneProcess.apiKey))
                // ... and its pace, learnt from the 429s, shared by the three jobs.
                let pace = try #require((parsed["key_paces"] as? [[String: Any]])?.first { $0["source"] as? String == "serve" },
                                        "status --json has no pace: \(document.stdout)")
                #expect(pace["key_id"] as? String == keyID)
                #expect((pace["rate_limited"] as? Int ?? 0) > 0)
                #expect(plain.stdout.contains("pace per API key"), "\(plain.stdout)")
                let (_, metrics) = try await serve.get("/metrics")
                #expect(metrics.contains("moontune_rate_limited_total{"), "no 429s counted")
                #expect(!paces.isEmpty, "the key was never paced")
                #expect(paces.allSatisfy { $0 < 20 }, "the pace stays near the 15/s limit: \(paces.max() ?? 0)")
                #expect(heldSeen, "no Retry-After hold was seen")
                #expect(await serve.terminate().status == 0)
                let stats = await workspace.simulator.stats()
                let refused = stats.responsesByStatus["429"] ?? 0
                #expect(refused > 0)
                #expect(Double(refused) <= 0.10 * Double(stats.responsesByStatus["200"] ?? 0), "\(refused) 429s")
                #expect(stats.maxInFlight <= 8)
                #expect(stats.doubleApplications == 0)
                for name in names { #expect(await workspace.finetune(name)?.trainStepsApplied == 12, "\(name)") }
            }
        }
    }
}
