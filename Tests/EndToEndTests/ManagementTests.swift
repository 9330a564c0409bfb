import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `finetunes list|show|delete` and `checkpoints NAME` / `checkpoints delete`, with their
    /// refusals, run as a user would against the simulator.
    @Suite struct ManagementTests {
        /// A completed job "managed" of 7 steps with checkpoints at 3, 6 and 7.
        func trainedWorkspace(faults: FaultOptions = FaultOptions()) async throws -> Workspace {
            let workspace = try await Workspace.make(skills: ["point"], images: 6, faults: faults)
            try workspace.writeConfig(name: "managed", steps: 7, groups: 3, rollouts: 2, concurrency: 3, every: 3)
            let result = try await workspace.run(["run", "config.json", "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
            return workspace
        }

        static func json(_ text: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
        }

        @Test func finetunesListCoversEveryPageAndMarksTheJobsFinetune() async throws {
            try await withWorkspace(try await trainedWorkspace()) { workspace in
                // More than one page (the client asks for 100 at a time).
                for index in 0..<105 {
                    let (status, _) = try await workspace.api("POST", "/tuning/finetunes", ["name": "other-\(index)", "rank": 8])
                    #expect(status == 200)
                }
                let finetuneID = try #require(try await workspace.job("managed")?.finetuneID)

                let listed = try await workspace.run(["finetunes", "list", "--base-url", workspace.simulator.baseURL, "--json"])
                #expect(listed.status == 0, "\(listed.stderr)")
                let finetunes = try #require(try Self.json(listed.stdout)["finetunes"] as? [[String: Any]])
                #expect(finetunes.count == 106)
                #expect(Set(finetunes.compactMap { $0["finetune_id"] as? String }).count == 106)
                let ours = try #require(finetunes.first { $0["finetune_id"] as? String == finetuneID })
                let jobs = try #require(ours["jobs"] as? [[String: Any]])
                #expect(jobs.count == 1)
                #expect(jobs.first?["name"] as? String == "managed")
                #expect(jobs.first?["state"] as? String == "completed")
                #expect(finetunes.filter { ($0["jobs"] as? [Any])?.isEmpty == false }.count == 1)

                let text = try await workspace.run(["finetunes", "list", "--base-url", workspace.simulator.baseURL])
                #expect(text.status == 0)
                let line = try #require(text.stdout.split(separator: "\n").first { $0.contains(finetuneID) })
                #expect(line.contains("managed (completed)"))
                #expect(text.stdout.contains("106 finetunes, 1 used by local jobs"))
                #expect(!text.stdout.contains(MoontuneProcess.apiKey) && !text.stderr.contains(MoontuneProcess.apiKey))
            }
        }

        @Test func finetunesShowGivesTheServersCheckpointsByJobNameIDOrName() async throws {
            try await withWorkspace(try await trainedWorkspace()) { workspace in
                let finetuneID = try #require(try await workspace.job("managed")?.finetuneID)
                let url = workspace.simulator.baseURL

                for target in [["managed"], [finetuneID, "--base-url", url], ["managed", "--base-url", url]] {
                    let shown = try await workspace.run(["finetunes", "show"] + target + ["--json"])
                    #expect(shown.status == 0, "\(target): \(shown.stderr)")
                    let document = try Self.json(shown.stdout)
                    #expect(document["finetune_id"] as? String == finetuneID)
                    let checkpoints = try #require(document["checkpoints"] as? [[String: Any]])
                    #expect(checkpoints.compactMap { $0["step"] as? Int } == [3, 6, 7])
                    #expect(checkpoints.compactMap { $0["model"] as? String }
                        == [3, 6, 7].map { "moondream3-preview/\(finetuneID)@\($0)" })
                    #expect((document["jobs"] as? [[String: Any]])?.first?["name"] as? String == "managed")
                }
                let text = try await workspace.run(["finetunes", "show", "managed"])
                #expect(text.stdout.contains("3 saved checkpoints on the server"))
                #expect(text.stdout.contains("used by job managed (completed, step 7 of 7)"))

                let missing = try await workspace.run(["finetunes", "show", "01NOSUCHFINETUNE", "--base-url", url])
                #expect(missing.status != 0)
                #expect(missing.stderr.contains("no finetune with that id or name"))
            }
        }

        @Test func finetunesDeleteNeedsYesRefusesARunningJobAndIsRecorded() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 40
            try await withWorkspace(try await trainedWorkspace(faults: faults)) { workspace in
                let finetuneID = try #require(try await workspace.job("managed")?.finetuneID)

                // Without --yes: what would go, a non-zero exit, and nothing deleted.
                let dry = try await workspace.run(["finetunes", "delete", "managed"])
                #expect(dry.status != 0)
                #expect(dry.stdout.contains("would delete finetune \(finetuneID)"))
                #expect(dry.stdout.contains("steps 3, 6, 7"))
                #expect(dry.stderr.contains("--yes"))
                #expect(await workspace.finetune("managed") != nil)

                // A running job of the same finetune: refused, even with --yes.
                try workspace.writeConfig(name: "managed", steps: 400, groups: 3, rollouts: 2, concurrency: 3, every: 3,
                                          file: "longer.json")
                let runner = try workspace.start(["run", "longer.json", "--quiet"])
                try await waitUntil { try await workspace.steps("managed").count >= 8 }
                let refused = try await workspace.run(["finetunes", "delete", "managed", "--yes"])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("job managed is running"), "\(refused.stderr)")
                #expect(await workspace.finetune("managed") != nil)
                runner.signal(SIGTERM)
                _ = await runner.wait()

                // Stopped: deleted, and the deletion is in the job's record.
                let deleted = try await workspace.run(["finetunes", "delete", finetuneID, "--yes", "--base-url", workspace.simulator.baseURL])
                #expect(deleted.status == 0, "\(deleted.stderr)")
                let stats = await workspace.simulator.stats()
                #expect(stats.finetunes.first { $0.finetuneID == finetuneID }?.deleted == true)
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let job = try #require(try await store.job(named: "managed"))
                #expect(job.finetuneDeletedAtMs != nil)
                let events = try await store.events(jobID: job.id ?? 0, limit: 5, kinds: ["finetune-deleted"])
                #expect(events.count == 1)
                #expect(try await store.checkpoints(jobID: job.id ?? 0).allSatisfy { !$0.isLive })

                let again = try await workspace.run(["finetunes", "delete", "managed", "--yes"])
                #expect(again.status != 0)
                #expect(again.stderr.contains("does not exist"))
                let listed = try await workspace.run(["finetunes", "list", "--base-url", workspace.simulator.baseURL])
                #expect(listed.stdout.contains("job managed: its finetune \(finetuneID) is not on the server"))
                let listedJSON = try await workspace.run(["finetunes", "list", "--base-url", workspace.simulator.baseURL, "--json"])
                let remaining = try #require(try Self.json(listedJSON.stdout)["finetunes"] as? [[String: Any]])
                #expect(!remaining.contains { $0["finetune_id"] as? String == finetuneID })
            }
        }

        @Test func checkpointsJoinsTheRecordWithTheServerAndDeletesWithRefusals() async throws {
            try await withWorkspace(try await trainedWorkspace()) { workspace in
                let finetuneID = try #require(try await workspace.job("managed")?.finetuneID)
                // Deleted behind moontune's back: the record still says saved.
                let (status, _) = try await workspace.api("DELETE", "/tuning/finetunes/\(finetuneID)/checkpoints/3")
                #expect(status == 200)

                // The latest is kept without --force, and why is said.
                let latest = try await workspace.run(["checkpoints", "delete", "managed", "7"])
                #expect(latest.status != 0)
                #expect(latest.stderr.contains("latest checkpoint") && latest.stderr.contains("could no longer resume"), "\(latest.stderr)")
                #expect(await workspace.finetune("managed")?.checkpoints == [6, 7])

                var slow = FaultOptions()
                slow.otherLatencyMs = 5
                await workspace.simulator.setFaults(slow)
                let deleted = try await workspace.run(["checkpoints", "delete", "managed", "6"])
                #expect(deleted.status == 0, "\(deleted.stderr)")
                #expect(await workspace.finetune("managed")?.checkpoints == [7])

                // 410 and 404 become clear messages.
                let twice = try await workspace.run(["checkpoints", "delete", "managed", "6"])
                #expect(twice.status != 0)
                #expect(twice.stderr.contains("was already deleted"), "\(twice.stderr)")
                let never = try await workspace.run(["checkpoints", "delete", "managed", "5"])
                #expect(never.status != 0)
                #expect(never.stderr.contains("no checkpoint at step 5"), "\(never.stderr)")

                let listed = try await workspace.run(["checkpoints", "managed", "--json"])
                #expect(listed.status == 0, "\(listed.stderr)")
                let rows = try #require(try Self.json(listed.stdout)["checkpoints"] as? [[String: Any]])
                let byStep = Dictionary(uniqueKeysWithValues: rows.compactMap { row in (row["step"] as? Int).map { ($0, row) } })
                #expect(byStep.keys.sorted() == [3, 6, 7])
                #expect(byStep[3]?["state"] as? String == "missing on server")
                #expect(byStep[6]?["state"] as? String == "deleted")
                #expect(byStep[6]?["deleted_at_ms"] as? Int != nil)
                #expect(byStep[7]?["state"] as? String == "saved")
                #expect(byStep[7]?["on_server"] as? Bool == true)
                #expect(byStep[7]?["model"] as? String == "moondream3-preview/\(finetuneID)@7")
                let text = try await workspace.run(["checkpoints", "managed"])
                #expect(text.stdout.contains("(moondream3-preview/\(finetuneID)@6)"))

                // The deletion was recorded before and after the call.
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let record = try await store.checkpoints(jobID: try #require(try await store.job(named: "managed")?.id))
                let six = try #require(record.first { $0.step == 6 })
                #expect((six.deletingAtMs ?? .max) < (six.deletedAtMs ?? .min), "\(six)")

                let forced = try await workspace.run(["checkpoints", "delete", "managed", "7", "--force"])
                #expect(forced.status == 0, "\(forced.stderr)")
                #expect(forced.stdout.contains("can no longer resume"))
                #expect(await workspace.finetune("managed")?.checkpoints == [])
            }
        }

        @Test func checkpointsDeleteIsRefusedWhileTheJobRuns() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 40
            try await withWorkspace(try await trainedWorkspace(faults: faults)) { workspace in
                try workspace.writeConfig(name: "managed", steps: 400, groups: 3, rollouts: 2, concurrency: 3, every: 3, file: "longer.json")
                let runner = try workspace.start(["run", "longer.json", "--quiet"])
                try await waitUntil { try await workspace.steps("managed").count >= 8 }
                let refused = try await workspace.run(["checkpoints", "delete", "managed", "3"])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("is running"))
                #expect(await workspace.finetune("managed")?.checkpoints.contains(3) == true)
                runner.signal(SIGTERM)
                _ = await runner.wait()
            }
        }
    }
}

/// Polls `condition` every 50 ms for up to `seconds`; `what` names it when it never holds.
func waitUntil(_ what: String = "the condition", seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("\(what) did not happen within \(seconds) s")
    throw CancellationError()
}
