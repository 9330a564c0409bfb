import Foundation
import MoontuneStore
import Testing

extension EndToEnd {
    /// Issue 21: one way in for every job, and the config recorded at admission is what runs.
    @Suite struct AdmissionTests {
        /// Runs one SQL statement on the database with Python's sqlite3 (a child with a timeout).
        func sqlite(_ database: URL, _ sql: String) async throws {
            let script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
            let child = try MoontuneProcess.start(["-c", script, database.path, sql], in: database.deletingLastPathComponent(),
                                                  executable: URL(fileURLWithPath: "/usr/bin/env"), prefix: ["python3"])
            let result = await child.wait(timeout: .seconds(30))
            #expect(result.status == 0, "\(result.stderr)")
        }

        func edit(_ url: URL, _ change: (inout [String: Any]) -> Void) throws {
            var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            change(&config)
            try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: url)
        }

        @Test func editingTheFileAfterSubmitChangesNothingForTheQueuedJob() async throws {
            try await withWorkspace { workspace in
                let url = try workspace.writeConfig(name: "recorded", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                                    extraAPI: ["api_key_env": "ACC_KEY"])
                let submitted = try await workspace.run(["submit", "config.json"])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                // Edited after the job was admitted: another lr and another key variable.
                try edit(url) { config in
                    var train = config["train"] as? [String: Any] ?? [:]
                    train["lr"] = 0.009
                    config["train"] = train
                    var api = config["api"] as? [String: Any] ?? [:]
                    api["api_key_env"] = "ACC_WRONG_KEY_VAR"
                    config["api"] = api
                }
                let serve = try await ServeProcess.start(workspace, environment: ["ACC_KEY": MoontuneProcess.apiKey])
                try await workspace.waitForJob("recorded", .completed, timeout: .seconds(90))
                _ = await serve.terminate()
                let steps = try await workspace.steps("recorded")
                #expect(steps.map(\.k) == [1, 2, 3])
                #expect(steps.allSatisfy { $0.lr == 0.002 }, "the recorded lr, not the edited one: \(steps.map(\.lr))")
                let job = try #require(try await workspace.job("recorded"))
                #expect(job.apiKeyEnv == "ACC_KEY")
                #expect(job.lastError == nil)
                #expect(job.configText?.contains("ACC_WRONG_KEY_VAR") == false, "the record keeps the admitted text")
            }
        }

        @Test func submittingAgainWithAChangedTrainingSettingIsRefusedAsRunRefusesIt() async throws {
            try await withWorkspace { workspace in
                let url = try workspace.writeConfig(name: "again", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                #expect(try await workspace.run(["submit", "config.json"]).status == 0)
                try edit(url) { config in
                    var train = config["train"] as? [String: Any] ?? [:]
                    train["lr"] = 0.009
                    config["train"] = train
                }
                let submit = try await workspace.run(["submit", "config.json"])
                #expect(submit.status == 1)
                #expect(submit.stderr.contains("was started with other training settings"), "\(submit.stderr)")
                #expect(submit.stderr.contains("train.lr"), "\(submit.stderr)")
                let run = try await workspace.run(["run", "config.json"])
                #expect(run.status != 0)
                #expect(run.stderr.contains("was started with other training settings"), "\(run.stderr)")
                // The record still holds the admitted lr.
                let job = try #require(try await workspace.job("again"))
                #expect(job.configText?.contains("0.009") == false)
            }
        }

        @Test func aRecordedFingerprintThatCannotBeReadIsRefusedBySubmitAsByRun() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "unreadable", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                #expect(try await workspace.run(["submit", "config.json"]).status == 0)
                try await sqlite(workspace.database, "UPDATE jobs SET fingerprint_json = '{\"not\": \"a fingerprint\"}' WHERE name = 'unreadable'")
                for command in ["submit", "run", "start"] {
                    let result = try await workspace.run([command, "config.json"])
                    #expect(result.status != 0, "\(command) accepted it")
                    #expect(result.stderr.contains("can no longer be read"), "\(command): \(result.stderr)")
                }
            }
        }

        @Test func aJobThatEndedByEarlyStopIsCompleteForStartAsForRunAndSubmit() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "early", steps: 30, groups: 2, rollouts: 2, concurrency: 2, every: 2, eval: true,
                                          extra: ["early_stop": ["patience": 1, "min_delta": 5]])
                let first = try await workspace.run(["run", "config.json"])
                #expect(first.status == 0, "\(first.stderr)")
                let job = try #require(try await workspace.job("early"))
                #expect(job.state == .completed && job.stopReason == "early_stop")
                for command in ["run", "start", "submit"] {
                    let again = try await workspace.run([command, "config.json"])
                    #expect(again.status == 0, "\(command): \(again.stderr)")
                    #expect(again.stdout.contains("already complete"), "\(command): \(again.stdout)")
                }
                #expect(try await workspace.job("early")?.state == .completed, "nothing was queued or started")
            }
        }

        @Test func aRunJobsEndIsToldByItsWebhookAsUnderServeAfterAnOutage() async throws {
            try await WebhookReceiver.with { receiver, url in
                try await withWorkspace { workspace in
                    try workspace.writeConfig(name: "told", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 2,
                                              extra: ["notify": ["webhook_url": url, "secret_env": "TOLD_SECRET"]])
                    // Down for the first attempts: the run keeps trying, with backoff, before it exits.
                    receiver.setUp(false)
                    let running = try MoontuneProcess.start(["run", "config.json", "--db", workspace.database.path],
                                                            in: workspace.directory, environment: ["TOLD_SECRET": "s3cret-told"])
                    try await waitUntil("the first refused delivery", seconds: 60) { receiver.refused > 0 }
                    receiver.setUp(true)
                    let result = await running.wait()
                    #expect(result.status == 0, "\(result.stderr)")
                    let delivered = receiver.deliveries.filter { $0.event == "completed" }
                    #expect(delivered.count == 1, "\(receiver.deliveries.map(\.event))")
                    let body = try #require(delivered.first?.body)
                    #expect(body.contains("\"job\":\"told\""))
                    #expect(delivered.first?.signature?.hasPrefix("sha256=") == true, "signed as under serve")
                    #expect(!result.stdout.contains("s3cret-told") && !result.stderr.contains("s3cret-told"))
                }
            }
        }
    }
}
