import Foundation
import MoontuneStore
import Testing

extension EndToEnd {
    /// `moontune sweep` (issue 25) on the real binary under `serve`, against the simulator.
    @Suite struct SweepEndToEndTests {
        /// Writes `job.json` (the base: 4 steps, evals at 0, 2 and 4) and `sweep.json` with `body`'s members.
        static func writeSweep(_ workspace: Workspace, _ body: String, steps: Int = 4, file: String = "sweep.json") throws {
            // Evals on the training images: the simulator's policy learns per image, so the eval
            // metric moves with the lr only on images it trains on.
            try workspace.writeConfig(name: "base-ignored", steps: steps, groups: 4, rollouts: 4, concurrency: 4, every: 2, eval: true,
                                      extra: ["data": ["train": "train.jsonl", "eval": "train.jsonl"]], file: "job.json")
            try Data("{\"name\": \"lr-sweep\", \"base\": \"job.json\", \(body)}".utf8).write(to: workspace.directory.appendingPathComponent(file))
        }

        static func status(_ workspace: Workspace) async throws -> [String: Any] {
            let result = try await workspace.run(["sweep", "status", "lr-sweep", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        }

        static func jobs(_ document: [String: Any]) -> [[String: Any]] { document["jobs"] as? [[String: Any]] ?? [] }

        /// The best eval metric after step 0 of a job, from its database.
        static func bestEval(_ workspace: Workspace, _ name: String) async throws -> Double? {
            let store = try ProgressStore(path: workspace.database.path, readOnly: true)
            guard let id = try await store.job(named: name)?.id else { return nil }
            return try await store.evals(jobID: id).filter { $0.step >= 1 }.map(\.rewardMean).max()
        }

        @Test func everyVariantRunsUnderServeWithItsSettingsRankedBestFirstAndASecondSubmitChangesNothing() async throws {
            try await withWorkspace(skills: ["point"]) { workspace in
                try Self.writeSweep(workspace, """
                    "grid": {"train.lr": [0.00001, 0.004], "train.rollouts_per_group": [2, 3]}, "metric": "eval/reward_mean"
                    """)
                let submitted = try await workspace.run(["sweep", "sweep.json"])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let names = (1...4).map { "lr-sweep-\($0)" }
                let expected: [String: (Double, Int)] = ["lr-sweep-1": (0.00001, 2), "lr-sweep-2": (0.00001, 3), "lr-sweep-3": (0.004, 2),
                                                          "lr-sweep-4": (0.004, 3)]
                let queued = try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs()
                #expect(queued.map(\.name).sorted() == names && queued.allSatisfy { $0.state == .queued })

                let again = try await workspace.run(["sweep", "sweep.json"])
                #expect(again.status == 0 && again.stdout.contains("nothing changed"), "\(again.stdout) \(again.stderr)")
                try Self.writeSweep(workspace, #""grid": {"train.lr": [0.001, 0.002, 0.003]}, "metric": "eval/reward_mean""#, file: "other.json")
                let other = try await workspace.run(["sweep", "other.json"])
                #expect(other.status != 0 && other.stderr.contains("different sweep named lr-sweep"), "\(other.stderr)")
                #expect(try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs().count == 4)

                let serve = try await ServeProcess.start(workspace, ["--max-jobs", "2"])
                for name in names { try await workspace.waitForJob(name, .completed, timeout: .seconds(180)) }
                let stopped = await serve.terminate()
                #expect(stopped.status == 0, "\(stopped.stderr)")

                // The settings as sent with each step, and as the server's finetunes saw them.
                for name in names {
                    let steps = try await workspace.steps(name)
                    #expect(steps.map(\.k) == [1, 2, 3, 4], "\(name)")
                    #expect(steps.allSatisfy { $0.lr == expected[name]?.0 }, "\(name): \(steps.map(\.lr))")
                    #expect(await workspace.finetune(name)?.trainStepsApplied == 4, "\(name)")
                    let job = try #require(try await workspace.job(name))
                    let config = try JSONSerialization.jsonObject(with: Data(job.configJSON.utf8)) as? [String: Any]
                    #expect((config?["train"] as? [String: Any])?["rollouts_per_group"] as? Int == expected[name]?.1, "\(job.configJSON)")
                    #expect(config?["name"] as? String == name)
                }

                let document = try await Self.status(workspace)
                let jobs = Self.jobs(document)
                #expect(document["sweep"] as? String == "lr-sweep" && document["metric"] as? String == "eval/reward_mean")
                #expect(Set(jobs.compactMap { $0["name"] as? String }) == Set(names))
                #expect(document["best"] as? String == jobs.first?["name"] as? String)
                let values = jobs.map { (($0["best"] as? [String: Any])?["value"] as? Double) ?? -1 }
                #expect(values == values.sorted(by: >), "ranked best first: \(values)")
                for job in jobs {
                    let name = job["name"] as? String ?? ""
                    #expect(job["state"] as? String == "completed" && job["step"] as? Int == 4)
                    let best = try #require(job["best"] as? [String: Any])
                    let recorded = try #require(try await Self.bestEval(workspace, name))
                    #expect(abs((best["value"] as? Double ?? -1) - recorded) < 1e-9, "\(name): \(best) vs \(recorded)")
                    let params = try #require(job["params"] as? [String: Any])
                    #expect(params["train.lr"] as? Double == expected[name]?.0 && params["train.rollouts_per_group"] as? Int == expected[name]?.1)
                    let finetune = try #require(try await workspace.job(name)?.finetuneID)
                    #expect((job["model"] as? String)?.hasPrefix("moondream3-preview/\(finetune)@") == true, "\(job)")
                }

                let report = try await workspace.run(["sweep", "report", "lr-sweep", "--out", "sweep.html"])
                #expect(report.status == 0, "\(report.stderr)")
                let html = try String(contentsOf: workspace.directory.appendingPathComponent("sweep.html"), encoding: .utf8)
                #expect(html.contains("<svg") && names.allSatisfy { html.contains($0) })
                #expect(html.contains(jobs.first?["model"] as? String ?? "?"))
                #expect(!html.contains("<script"))
            }
        }

        /// Recomputes a decision from the recorded evals: the job goes on when its rank among the
        /// jobs decided before it (and itself) is within max(1, ⌊keep × n⌋), or fewer than 2 were there.
        static func expectedGoesOn(value: Double, earlier: [Double], keep: Double) -> Bool {
            let n = earlier.count + 1
            let rank = 1 + earlier.filter { $0 > value }.count
            return n < 2 || rank <= max(1, Int((keep * Double(n)).rounded(.down)))
        }

        @Test func pruningDecisionsAreRecordedAndSurviveAKill9OfServeAndAPrunedJobSubmittedAgainRunsOn() async throws {
            try await withWorkspace { workspace in
                // Variants in turn (--max-jobs 1): each decides at rung 2 against those before it.
                // lr-sweep-1 (two SFT steps at a full step size) is far ahead at the rung of
                // lr-sweep-3 (the same at a step size of 0.0025), which is then below the top 1 of 3.
                try Self.writeSweep(workspace, """
                    "grid": {"train.lr": [0.004, 0.00001], "train.sft_steps": [2, 0]}, "metric": "eval/reward_mean",
                    "prune": {"type": "asha", "rungs": [2], "keep": 0.5}
                    """, steps: 6)
                let submitted = try await workspace.run(["sweep", "sweep.json"])
                #expect(submitted.status == 0, "\(submitted.stderr)")
                let names = (1...4).map { "lr-sweep-\($0)" }

                let first = try await ServeProcess.start(workspace, ["--max-jobs", "1"])
                // Kill it once a job was pruned and a later one is under way.
                let deadline = ContinuousClock.now + .seconds(180)
                var pruned: Set<String> = []
                while ContinuousClock.now < deadline {
                    let jobs = Self.jobs(try await Self.status(workspace))
                    pruned = Set(jobs.filter { $0["stop_reason"] as? String == "pruned" }.compactMap { $0["name"] as? String })
                    if !pruned.isEmpty, jobs.contains(where: { $0["state"] as? String == "running" }) { break }
                    if jobs.allSatisfy({ ["completed", "stopped"].contains($0["state"] as? String ?? "") }) { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let killed = await first.kill()
                #expect(killed.killedBySignal)
                #expect(!pruned.isEmpty, "no job was pruned before the kill")
                let before = Self.jobs(try await Self.status(workspace))
                func decisions(_ jobs: [[String: Any]]) -> [String: String] {
                    Dictionary(uniqueKeysWithValues: jobs.map { job in
                        (job["name"] as? String ?? "", (job["decisions"] as? [[String: Any]] ?? []).map { decision in
                            "\(decision["rung"] ?? "")/\(decision["goes_on"] ?? "")/\(decision["value"] ?? "")/\(decision["rank"] ?? "")/\(decision["cohort"] ?? "")"
                        }.joined(separator: ";"))
                    })
                }

                let second = try await ServeProcess.start(workspace, ["--max-jobs", "1"])
                for name in names {
                    let deadlineJob = ContinuousClock.now + .seconds(180)
                    while ContinuousClock.now < deadlineJob, let job = try await workspace.job(name), ![.completed, .stopped].contains(job.state) {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                let after = Self.jobs(try await Self.status(workspace))
                // Decisions taken before the kill are unchanged; pruned jobs stay pruned, where they stopped.
                let beforeDecisions = decisions(before)
                let afterDecisions = decisions(after)
                for (name, recorded) in beforeDecisions where !recorded.isEmpty { #expect(afterDecisions[name] == recorded, "\(name)") }
                for job in before where pruned.contains(job["name"] as? String ?? "") {
                    let now = after.first { $0["name"] as? String == job["name"] as? String }
                    #expect(now?["state"] as? String == "stopped" && now?["stop_reason"] as? String == "pruned")
                    #expect(now?["step"] as? Int == job["step"] as? Int)
                }
                // Every job was decided at the rung, by the rule, on the evals recorded before it.
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                var earlier: [Double] = []
                for name in names {
                    let job = try #require(try await store.job(named: name))
                    let rungEval = try #require(try await store.evals(jobID: job.id ?? 0).first { $0.step == 2 }, "\(name)")
                    let decision = try #require(try await store.pruneDecisions(jobID: job.id ?? 0).first, "\(name)")
                    #expect(decision.rung == 2 && decision.value == rungEval.rewardMean && decision.cohort == earlier.count + 1)
                    let goesOn = Self.expectedGoesOn(value: rungEval.rewardMean, earlier: earlier, keep: 0.5)
                    #expect(decision.goesOn == goesOn, "\(name): \(rungEval.rewardMean) after \(earlier)")
                    #expect(job.state == (goesOn ? .completed : .stopped) && job.stopReason == (goesOn ? nil : "pruned"), "\(name)")
                    if !goesOn {
                        #expect(try await store.lastAppliedStep(jobID: job.id ?? 0) == 2)
                        #expect(try await store.checkpoints(jobID: job.id ?? 0).contains { $0.step == 2 && $0.deletedAtMs == nil })
                    }
                    earlier.append(rungEval.rewardMean)
                }
                let document = try await Self.status(workspace)
                #expect((document["rollouts_saved_by_pruning"] as? Int ?? 0) > 0)

                // A runner that died after recording its decision and before recording the stop
                // (the job left `running` by a dead pid): serve resumes it and it stops, pruned,
                // on the recorded decision, without a step more.
                let victim = try #require(pruned.sorted().first)
                let victimRecord = try #require(try await workspace.job(victim))
                let writer = try ProgressStore(path: workspace.database.path)
                _ = try await writer.markRunning(jobID: victimRecord.id ?? 0, pid: 999_999, host: ProcessInfo.processInfo.hostName,
                                                 totalSteps: victimRecord.totalSteps, configJSON: victimRecord.configJSON,
                                                 configPath: victimRecord.configPath, now: ProgressStore.nowMs() - 60_000)
                let decided = try await writer.pruneDecisions(jobID: victimRecord.id ?? 0)
                try await workspace.waitForJob(victim, .stopped, timeout: .seconds(60))
                #expect(try await workspace.job(victim)?.stopReason == "pruned")
                #expect(try await workspace.steps(victim).map(\.k) == [1, 2])
                #expect(try await writer.pruneDecisions(jobID: victimRecord.id ?? 0) == decided)

                // A pruned job submitted again by hand (its recorded config as a file) runs on to its end.
                let text = try #require(try await workspace.job(victim)?.configText)
                try Data(text.utf8).write(to: workspace.directory.appendingPathComponent("victim.json"))
                let resubmitted = try await workspace.run(["submit", "victim.json"])
                #expect(resubmitted.status == 0, "\(resubmitted.stderr)")
                try await workspace.waitForJob(victim, .completed, timeout: .seconds(120))
                #expect(try await workspace.steps(victim).map(\.k) == [1, 2, 3, 4, 5, 6])
                let stopped = await second.terminate()
                #expect(stopped.status == 0, "\(stopped.stderr)")
            }
        }

        @Test func aBadSweepIsRefusedWithALocatedErrorAndNothingSubmitted() async throws {
            try await withWorkspace(skills: ["point"]) { workspace in
                try Self.writeSweep(workspace, """
                    "grid": {"train.lr": [0.001, 0.002],
                             "train.rollouts_per_group": [4, 99]},
                    "metric": "eval/reward_mean", "prune": {"type": "asha", "rungs": [3], "keep": 0.5}
                    """)
                let result = try await workspace.run(["sweep", "sweep.json"])
                #expect(result.status != 0)
                // The variant's bad value, at its key's line of the sweep file; the rung that is no eval step.
                #expect(result.stderr.contains("sweep.json:2: grid.train.rollouts_per_group:"), "\(result.stderr)")
                #expect(result.stderr.contains("99"), "\(result.stderr)")
                #expect(result.stderr.contains("sweep.json:3: prune.rungs:"), "\(result.stderr)")
                if FileManager.default.fileExists(atPath: workspace.database.path) {
                    #expect(try await ProgressStore(path: workspace.database.path, readOnly: true).allJobs().isEmpty)
                }
            }
        }
    }
}
