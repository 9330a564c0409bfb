import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `train.skip_constant_groups` on the real binary against the simulator, with a reward
    /// program that gives some examples a constant reward and the others varied ones; and the
    /// per-step answer length and truncation rate with their warning in the log.
    @Suite struct GroupSignalEndToEndTests {
        /// Scores by the example's line: a line with signal gets 1, 0, 1, 0, ... (mean exactly 0.5
        /// over an even number of rollouts), any other 0.25 for every rollout. `half`: odd lines
        /// have signal; `rare`: lines 1, 9 and 17; `none`: no line.
        static let program = """
            import json, sys
            mode = sys.argv[1]
            for line in sys.stdin:
                group = json.loads(line)
                n = len(group["outputs"])
                number = group["example"]["line"]
                signal = {"half": number % 2 == 1, "rare": number % 8 == 1, "none": False}[mode]
                rewards = [float(i % 2) for i in range(n)] if signal else [0.25] * n
                print(json.dumps({"rewards": rewards}), flush=True)
            """

        func writeJob(_ workspace: Workspace, name: String, mode: String, steps: Int, groups: Int, skip: Bool = true,
                      file: String = "config.json") throws {
            try Self.program.write(to: workspace.directory.appendingPathComponent("signal.py"), atomically: true, encoding: .utf8)
            try workspace.writeConfig(name: name, steps: steps, groups: groups, rollouts: 4, concurrency: 4, every: 4,
                                      extraTrain: ["skip_constant_groups": skip],
                                      extra: ["reward": ["command": ["python3", "signal.py", mode]]], file: file)
        }

        @Test func noConstantGroupReachesTrainStepWhenSkippingIsOn() async throws {
            try await withWorkspace { workspace in
                try writeJob(workspace, name: "filtered", mode: "half", steps: 6, groups: 4)
                let run = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(run.status == 0, "\(run.stderr)\n\(run.stdout.suffix(800))")
                let steps = try await workspace.steps("filtered")
                #expect(steps.map(\.k) == Array(1...6))
                // The server's mean over every reward it got is 0.5 exactly when only groups with
                // signal reached it; one constant group (0.25) would pull it down.
                for step in steps where !step.skipped {
                    let mean = try #require(step.serverRewardMean, "step \(step.k) carries the server's reward mean")
                    #expect(abs(mean - 0.5) < 1e-9, "step \(step.k): a constant group reached train_step (server mean \(mean))")
                    let tried = try #require(step.groupsTried), kept = try #require(step.groupsKept)
                    #expect(kept >= 1 && step.groupsDropped == tried - kept && tried % 4 == 0)
                }
                #expect(steps.compactMap(\.groupsDropped).reduce(0, +) > 0, "the data had constant groups to drop")
                let finetune = try #require(await workspace.finetune("filtered"))
                #expect(finetune.step == steps.filter { !$0.skipped }.count)
                #expect(finetune.doubleApplications == 0)

                // The same job without the setting sends them: the check above can fail.
                try writeJob(workspace, name: "unfiltered", mode: "half", steps: 6, groups: 4, skip: false, file: "plain.json")
                let plain = try await workspace.run(["run", "plain.json", "--quiet"])
                #expect(plain.status == 0, "\(plain.stderr)")
                let sent = try await workspace.steps("unfiltered").compactMap(\.serverRewardMean)
                #expect(sent.contains { $0 < 0.5 - 1e-9 }, "without skipping, constant groups reach train_step: \(sent)")
                #expect(try await workspace.steps("unfiltered").allSatisfy { $0.groupsTried == nil && !$0.skipped })

                // status and export say what was dropped.
                let status = try await workspace.statusJSON("filtered")
                let signal = try #require(status["group_signal"] as? [String: Any])
                #expect((signal["groups_dropped"] as? Int ?? 0) > 0)
                #expect(signal["groups_tried"] as? Int == steps.compactMap(\.groupsTried).reduce(0, +))
                let plainStatus = try await workspace.run(["status", "filtered"])
                #expect(plainStatus.stdout.contains("groups dropped for equal rewards"), "\(plainStatus.stdout)")
                let export = try await workspace.run(["export", "filtered", "--format", "csv"])
                let header = export.stdout.split(separator: "\n").first.map(String.init) ?? ""
                #expect(header.contains(",groups_tried,groups_kept,groups_dropped,skipped,answer_length_mean,truncation_rate,"), "\(header)")
            }
        }

        @Test func stepsWithoutSignalAreRecordedSkippedAndTheJobCompletesWithTheServerAtTheStepsSent() async throws {
            try await withWorkspace { workspace in
                try writeJob(workspace, name: "rare", mode: "rare", steps: 12, groups: 2)
                let run = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(run.status == 0, "\(run.stderr)\n\(run.stdout.suffix(800))")
                let steps = try await workspace.steps("rare")
                #expect(steps.map(\.k) == Array(1...12))
                #expect(steps.allSatisfy { $0.state == .applied })
                let skipped = steps.filter(\.skipped)
                #expect(!skipped.isEmpty && skipped.count < 12, "a mix of skipped and trained steps: \(skipped.map(\.k))")
                #expect(skipped.allSatisfy { $0.groupsTried == 8 && $0.groupsKept == 0 && $0.serverRewardMean == nil })
                let finetune = try #require(await workspace.finetune("rare"))
                #expect(finetune.step == 12 - skipped.count, "the server applied exactly the steps not skipped")
                #expect(finetune.trainStepsApplied == 12 - skipped.count && finetune.doubleApplications == 0)
                // The final checkpoint is the server's last step, under the record's step 12.
                #expect(finetune.checkpoints.last == 12 - skipped.count)
                let job = try #require(try await workspace.job("rare"))
                #expect(job.state == .completed)

                // `checkpoints delete S` takes the server's step (the one after @ in the model
                // string) and marks the record kept under the job's step deleted.
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let live = try await store.checkpoints(jobID: try #require(job.id)).filter(\.isLive)
                let older = try #require(live.filter { $0.stepOnServer != finetune.checkpoints.last }
                    .first { $0.stepOnServer != $0.step }, "a checkpoint whose server step differs: \(live)")
                let deleted = try await workspace.run(["checkpoints", "delete", "rare", "\(older.stepOnServer)"])
                #expect(deleted.status == 0, "\(deleted.stderr)")
                #expect(deleted.stdout.contains("@\(older.stepOnServer)"), "\(deleted.stdout)")
                let after = try await store.checkpoints(jobID: try #require(job.id))
                #expect(after.filter { $0.deletedAtMs != nil }.map(\.step) == [older.step], "\(after)")
                #expect(await workspace.finetune("rare")?.checkpoints.contains(older.stepOnServer) == false)

                // Every group constant: every step skipped, nothing sent, completed.
                try writeJob(workspace, name: "flat", mode: "none", steps: 3, groups: 2, file: "flat.json")
                let flat = try await workspace.run(["run", "flat.json", "--quiet"])
                #expect(flat.status == 0, "\(flat.stderr)")
                let flatSteps = try await workspace.steps("flat")
                #expect(flatSteps.map(\.k) == [1, 2, 3] && flatSteps.allSatisfy(\.skipped))
                #expect(await workspace.finetune("flat")?.trainStepsApplied == 0)
                let status = try await workspace.statusJSON("flat")
                #expect(status["state"] as? String == "completed")
                #expect((status["group_signal"] as? [String: Any])?["skipped_steps"] as? Int == 3)
            }
        }

        @Test func killedAcrossSkippedStepsTheJobResumesExactlyWithTheSameDataOrder() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 15
            faults.trainLatencyMs = 25
            let seed = KillSeed.resolve(7, test: "GroupSignalEndToEndTests")
            let replay = KillSeed.note(seed)
            let workspace = try await Workspace.make(seed: 5, faults: faults)
            try await withWorkspace(workspace) { workspace in
                // The rewards depend on the example alone, so which steps skip is the same in
                // every run: an uninterrupted job is the reference.
                try writeJob(workspace, name: "reference", mode: "rare", steps: 14, groups: 2, file: "reference.json")
                let reference = try await workspace.run(["run", "reference.json", "--quiet"])
                #expect(reference.status == 0, "\(reference.stderr)")
                try writeJob(workspace, name: "killed", mode: "rare", steps: 14, groups: 2)
                var random = SeededGenerator(seed: seed)
                var kills = 0
                for _ in 0..<12 where kills < 5 {
                    let running = try workspace.start(["run", "config.json", "--quiet"])
                    try await Task.sleep(for: .milliseconds(Int.random(in: 40...400, using: &random)))
                    running.signal(SIGKILL)
                    let result = await running.wait()
                    if result.killedBySignal { kills += 1 } else if result.status == 0 { break }
                }
                let final = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final.status == 0, "\(replay) \(final.stderr)")
                #expect(kills >= 1, "\(replay) at least one kill landed")
                let expected = try await workspace.steps("reference")
                let steps = try await workspace.steps("killed")
                #expect(steps.map(\.k) == Array(1...14), "\(replay)")
                #expect(steps.map(\.exampleIDs) == expected.map(\.exampleIDs), "\(replay) the data order changed across kills")
                #expect(steps.map(\.skipped) == expected.map(\.skipped), "\(replay)")
                #expect(steps.map(\.groupsTried) == expected.map(\.groupsTried), "\(replay)")
                #expect(expected.contains { $0.skipped }, "the reference skips a step")
                let finetune = try #require(await workspace.finetune("killed"))
                #expect(finetune.step == steps.filter { !$0.skipped }.count, "\(replay)")
                #expect(finetune.trainStepsApplied == finetune.step && finetune.doubleApplications == 0, "\(replay)")
            }
        }

        @Test func theAnswerLengthAndTruncationRateAreRecordedAndTheirWarningIsLoggedOnce() async throws {
            try await withWorkspace(skills: ["point"]) { workspace in
                // One token, where a point takes two: every answer with a point is cut.
                try workspace.writeConfig(name: "short", steps: 5, groups: 4, rollouts: 4, concurrency: 4, every: 5,
                                          extraTrain: ["settings": ["point": ["max_tokens": 1]]])
                let run = try await workspace.run(["run", "config.json"])
                #expect(run.status == 0, "\(run.stderr)")
                let steps = try await workspace.steps("short")
                #expect(steps.count == 5)
                for step in steps {
                    let rate = try #require(step.truncationRate, "step \(step.k) records its truncation rate")
                    #expect(rate > 0.2 && rate <= 1, "step \(step.k): \(rate)")
                    let length = try #require(step.answerLengthMean)
                    #expect(length <= 1, "an answer of at most max_tokens tokens")
                }
                let log = run.stdout + run.stderr
                let warnings = log.split(separator: "\n").filter { $0.contains("a truncation rate of") }
                #expect(warnings.count == 1, "one line when the warning appears, not one per step:\n\(log.suffix(2000))")
                #expect(warnings.first?.contains("warning") == true)
                let status = try await workspace.statusJSON("short")
                #expect((status["warnings"] as? [String] ?? []).contains { $0.contains("a truncation rate of") })
                let export = try await workspace.run(["export", "short", "--format", "jsonl"])
                let first = try #require(export.stdout.split(separator: "\n").first)
                let row = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
                #expect(row["truncation_rate"] is Double && row["answer_length_mean"] is Double)
            }
        }
    }
}
