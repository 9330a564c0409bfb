import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `start`, `status`, `stop` and `run` as a user strings them together, with `status --json`
    /// checked against CONTRACT.md at every moment: pending, running, stopped, interrupted, failed
    /// and completed.
    @Suite struct OperationsLifecycleTests {
        /// A workspace whose job takes a few seconds, so that it can be watched and stopped.
        func slowWorkspace() async throws -> Workspace {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 60
            faults.trainLatencyMs = 20
            return try await Workspace.make(faults: faults)
        }

        @Test func startStatusStopStatusThenRunCompletes() async throws {
            try await withWorkspace(try await slowWorkspace()) { workspace in
                try workspace.writeConfig(name: "bg", steps: 24, groups: 2, rollouts: 2, concurrency: 2, every: 6, eval: true)

                let started = try await workspace.run(["start", "config.json"])
                #expect(started.status == 0, "\(started.stderr)")
                let logPath = workspace.directory.appendingPathComponent("bg.log").path
                #expect(started.stdout.contains(logPath), "start names its log: \(started.stdout)")
                let attributes = try FileManager.default.attributesOfItem(atPath: logPath)
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "the log is private")

                // Running, by the record and the contract; the pid start printed is the runner's.
                var job = try await Operations.status(workspace, job: "bg")
                #expect(job["state"] as? String == "running")
                let pid = try #require(job["pid"] as? Int)
                #expect(started.stdout.contains("pid \(pid)"), "\(started.stdout)")
                #expect(Operations.isAlive(Int32(pid)))
                #expect(job["total_steps"] as? Int == 24)
                let table = try await workspace.run(["status"])
                #expect(table.stdout.contains("bg") && table.stdout.contains("running"), "\(table.stdout)")

                // A second start is refused and leaves the first alone.
                let second = try await workspace.run(["start", "config.json"])
                #expect(second.status != 0)
                #expect(second.stderr.contains("already running"), "\(second.stderr)")

                try await waitForStep(workspace, "bg", atLeast: 2)
                let stopped = try await workspace.run(["stop", "bg"])
                #expect(stopped.status == 0, "\(stopped.stderr)")
                job = try await Operations.status(workspace, job: "bg")
                #expect(job["state"] as? String == "stopped")
                let step = try #require(job["step"] as? Int)
                #expect(stopped.stdout.contains("stopped at step \(step)"), "stop reports the step: \(stopped.stdout)")
                #expect(step >= 2 && step < 24)
                #expect(!Operations.isAlive(Int32(pid)), "the runner exited")
                #expect(await workspace.finetune("bg")?.trainStepsApplied == step, "the record and the server agree")

                // Stopping a stopped job says so and changes nothing.
                let again = try await workspace.run(["stop", "bg"])
                #expect(again.status == 0)
                #expect(again.stdout.contains("not running"), "\(again.stdout)")

                let resumed = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                job = try await Operations.status(workspace, job: "bg")
                #expect(job["state"] as? String == "completed")
                #expect(job["step"] as? Int == 24)
                #expect(job["last_checkpoint_step"] as? Int == 24)
                #expect(job["reward_mean"] is Double)
                #expect(job["last_error"] is NSNull)
                #expect(await workspace.simulator.stats().doubleApplications == 0)

                // The detailed view: checkpoints with model strings ready to paste, the last eval.
                let finetune = try #require(job["finetune_id"] as? String)
                let detail = try await workspace.run(["status", "bg"])
                #expect(detail.stdout.contains("moondream3-preview/\(finetune)@24"), "\(detail.stdout)")
                #expect(detail.stdout.contains("eval"), "\(detail.stdout)")
                #expect(detail.stdout.contains("step 24 of 24"), "\(detail.stdout)")
            }
        }

        @Test func aKilledJobShowsInterruptedAndTheNextRunReconciles() async throws {
            try await withWorkspace(try await slowWorkspace()) { workspace in
                try workspace.writeConfig(name: "killed", steps: 20, groups: 2, rollouts: 2, concurrency: 2, every: 5)

                let started = try await workspace.run(["start", "config.json"])
                #expect(started.status == 0, "\(started.stderr)")
                try await waitForStep(workspace, "killed", atLeast: 2)
                let pid = try #require(try await Operations.status(workspace, job: "killed")["pid"] as? Int)
                let killed = try await workspace.run(["stop", "killed", "--force"])
                #expect(killed.status == 0, "\(killed.stderr)")
                #expect(killed.stdout.contains("killed at step"), "\(killed.stdout)")
                #expect(!Operations.isAlive(Int32(pid)))

                // The record still says running; status knows better.
                #expect(try await workspace.job("killed")?.state == .running)
                let job = try await Operations.status(workspace, job: "killed")
                #expect(job["state"] as? String == "interrupted")
                let table = try await workspace.run(["status"])
                #expect(table.stdout.contains("interrupted"), "\(table.stdout)")
                // stop on an interrupted job signals nothing: its pid may belong to someone else by now.
                let stop = try await workspace.run(["stop", "killed"])
                #expect(stop.status == 0)
                #expect(stop.stdout.contains("interrupted"), "\(stop.stdout)")

                let resumed = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                let done = try await Operations.status(workspace, job: "killed")
                #expect(done["state"] as? String == "completed")
                #expect(done["step"] as? Int == 20)
                #expect(await workspace.finetune("killed")?.trainStepsApplied == 20)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test func aStaleHeartbeatShowsInterrupted() async throws {
            try await withWorkspace { workspace in
                // A job recorded running on another host, silent for a minute: no lock to ask, only the heartbeat.
                let store = try ProgressStore(path: workspace.database.path)
                let now = ProgressStore.nowMs()
                let job = try await store.createJob(JobRecord(name: "silent", configPath: "/x/config.json", configJSON: "{}", fingerprintJSON: "{}",
                                                              baseURL: "http://127.0.0.1:1/v1", apiKeyEnv: "MOONDREAM_API_KEY", totalSteps: 10,
                                                              now: now - 120_000))
                _ = try await store.markRunning(jobID: try #require(job.id), pid: 4_000_000, host: "elsewhere.example", totalSteps: 10,
                                                configJSON: "{}", configPath: "/x/config.json", now: now - 60_000)
                #expect(try await Operations.status(workspace, job: "silent")["state"] as? String == "interrupted")
                try await store.heartbeat(jobID: try #require(job.id), now: ProgressStore.nowMs())
                #expect(try await Operations.status(workspace, job: "silent")["state"] as? String == "running",
                        "a fresh heartbeat from another host is trusted")
            }
        }

        @Test func aPendingJobMatchesTheContract() async throws {
            try await withWorkspace { workspace in
                let store = try ProgressStore(path: workspace.database.path)
                _ = try await store.createJob(JobRecord(name: "queued", configPath: "/x/config.json", configJSON: "{}", fingerprintJSON: "{}",
                                                        baseURL: "http://127.0.0.1:1/v1", apiKeyEnv: "MOONDREAM_API_KEY", totalSteps: 10,
                                                        now: ProgressStore.nowMs()))
                let job = try await Operations.status(workspace, job: "queued")
                #expect(job["state"] as? String == "pending")
                #expect(job["step"] as? Int == 0)
                #expect(job["finetune_id"] is NSNull)
                #expect(job["pid"] is NSNull)
                #expect(job["last_checkpoint_step"] is NSNull)
            }
        }

        @Test func aFailedJobShowsItsErrorAndNeverTheKey() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "denied", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                let wrongKey = "sk-wrong-KEY-9876543210-secret"
                let result = try await workspace.run(["run", "config.json"], environment: ["MOONDREAM_API_KEY": wrongKey])
                #expect(result.status != 0)
                let job = try await Operations.status(workspace, job: "denied")
                #expect(job["state"] as? String == "failed")
                let error = try #require(job["last_error"] as? String)
                #expect(error.contains("401") || error.lowercased().contains("unauthorized") || error.lowercased().contains("key"), "\(error)")

                let detail = try await workspace.run(["status", "denied"])
                let report = try await workspace.run(["report", "denied", "--out", "denied.html"])
                let html = try String(contentsOf: workspace.directory.appendingPathComponent("denied.html"), encoding: .utf8)
                var database = Data()
                for suffix in ["", "-wal"] {
                    database += (try? Data(contentsOf: URL(fileURLWithPath: workspace.database.path + suffix))) ?? Data()
                }
                for (place, text) in [("run stdout", result.stdout), ("run stderr", result.stderr), ("status", detail.stdout),
                                      ("report", html + report.stdout), ("database", String(decoding: database, as: UTF8.self))] {
                    #expect(!text.contains(wrongKey), "the API key appears in the \(place)")
                    #expect(!text.contains(MoontuneProcess.apiKey), "the simulator's key appears in the \(place)")
                }
                #expect(html.contains("Last error"))
            }
        }
    }
}

extension EndToEnd {
    /// What `start` and `status --watch` do before and around a job.
    @Suite struct OperationsStartTests {
        @Test func startRefusesABadConfigOrAMissingKeyInTheForegroundAndStartsNothing() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "bad", steps: 4, groups: 2, rollouts: 99, concurrency: 2, every: 2)
                let invalid = try await workspace.run(["start", "config.json"])
                #expect(invalid.status == 2, "\(invalid.stderr)")
                #expect(invalid.stderr.contains("rollouts_per_group"), "the problem names the field: \(invalid.stderr)")

                try workspace.writeConfig(name: "nokey", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 2,
                                          extraAPI: ["api_key_env": "MOONTUNE_TEST_UNSET_KEY"])
                let keyless = try await workspace.run(["start", "config.json"])
                #expect(keyless.status != 0)
                #expect(keyless.stderr.contains("MOONTUNE_TEST_UNSET_KEY"), "says which variable is missing: \(keyless.stderr)")

                #expect(!FileManager.default.fileExists(atPath: workspace.directory.appendingPathComponent("bad.log").path))
                #expect(!FileManager.default.fileExists(atPath: workspace.directory.appendingPathComponent("nokey.log").path))
                #expect(await workspace.simulator.stats().finetunes.isEmpty, "nothing reached the API")
            }
        }

        @Test func statusWatchRedrawsUntilInterrupted() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "watched", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                #expect(try await workspace.run(["run", "config.json", "--quiet"]).status == 0)
                let watching = try workspace.start(["status", "--watch", "--interval", "0.3"])
                func redraws(_ text: String) -> Int { text.components(separatedBy: "\u{1B}[H\u{1B}[2J").count - 1 }
                // Polled, not slept: at 0.3 s a second redraw comes well within the deadline.
                try await waitUntil("a second redraw", seconds: 10) {
                    let text = watching.stdoutSoFar
                    return redraws(text) >= 2 && text.contains("completed")
                }
                let soFar = watching.stdoutSoFar
                watching.signal(SIGINT)
                _ = await watching.wait()
                #expect(redraws(soFar) >= 2, "redrawn \(redraws(soFar)) times: \(soFar)")
                #expect(soFar.contains("watched") && soFar.contains("completed"))
            }
        }

        @Test func statusWithoutADatabaseSaysThereAreNoJobs() async throws {
            try await withWorkspace { workspace in
                let table = try await workspace.run(["status"])
                #expect(table.status == 0)
                #expect(table.stdout.contains("no jobs yet"))
                #expect(try await Operations.status(workspace).isEmpty)
                let named = try await workspace.run(["status", "ghost"])
                #expect(named.status != 0, "a named job that does not exist is an error")
                #expect(!FileManager.default.fileExists(atPath: workspace.database.path), "status creates no database")
            }
        }
    }
}
