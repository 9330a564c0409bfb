import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// The live service's timing: train steps that run far past an ordinary request's deadline,
    /// and keep running after the client gave up. Scaled down in time.
    @Suite struct LiveServiceTimingTests {
        @Test func aTrainStepSlowerThanTheRequestDeadlineGetsItsOwnAndIsAppliedOnce() async throws {
            var faults = FaultOptions()
            faults.trainLatencyMs = 1500
            try await withWorkspace(faults: faults) { workspace in
                // Every other call must answer within 1 s; train_step has its own deadline (default 900 s).
                try workspace.writeConfig(name: "slow", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                          extraAPI: ["request_timeout_s": 1])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                #expect(await workspace.finetune("slow")?.trainStepsApplied == 3)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                let steps = try await workspace.steps("slow")
                #expect(steps.map(\.k) == [1, 2, 3])
                #expect(steps.allSatisfy { !$0.reconciled }, "no step was in doubt")
                #expect(steps.allSatisfy { ($0.trainLatencyMs ?? 0) >= 1400 })
            }
        }

        @Test func aTrainStepSlowerThanItsDeadlineIsWatchedUntilItLandsAndRecordedOnce() async throws {
            // Each train_step is held on the simulator's clock, which only this test moves: it lands
            // once moontune has given up on it and is watching the server, never before.
            let clock = ManualSimulatorClock()
            var faults = FaultOptions()
            faults.trainLatencyMs = 2000
            try await withWorkspace(faults: faults, simulator: { $0.clock = clock }) { workspace in
                // The client gives up on each train_step after 1.2 s; the server applies it at 2 s. With
                // a window longer than the step, moontune watches the server until it lands.
                try workspace.writeConfig(name: "late", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                          extraAPI: ["train_step_timeout_s": 1.2, "in_doubt_wait_s": 6])
                let running = try workspace.start(["run", "config.json", "--log-format", "json"])
                func inDoubtCount() -> Int { running.stdoutSoFar.components(separatedBy: "in doubt: waiting up to").count - 1 }
                var seen = 0
                for step in 1...3 {
                    try await waitUntil("step \(step) to be held and in doubt", seconds: 30) {
                        clock.sleeperCount == 1 && inDoubtCount() > seen
                    }
                    seen = inDoubtCount()
                    clock.advance(by: .milliseconds(2000))
                }
                let result = await running.wait()
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                let finetune = try #require(await workspace.finetune("late"))
                #expect(finetune.trainStepsApplied == 3, "each slow step was applied once")
                #expect(finetune.step == 3)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                let steps = try await workspace.steps("late")
                #expect(steps.map(\.k) == [1, 2, 3])
                #expect(steps.allSatisfy { $0.reconciled }, "each step was seen landing by the watch")
                let job = try await workspace.job("late")
                #expect(job?.state == .completed)
                let output = result.stdout + result.stderr
                #expect(output.contains("in doubt: waiting up to"), "\(output.suffix(2000))")
                #expect(!output.contains("never reached the server"))
            }
        }
    }
}

extension EndToEnd {
    /// One job against each answer shape the service has been seen to send: the reference's
    /// (`{}` from train_step, plain finetunes, no expiry), the live service's (the simulator's
    /// default), and the live service with wrapped finetune objects.
    @Suite struct LiveServiceShapesTests {
        enum Shape: String, CaseIterable, Sendable { case reference, live, wrapped }

        func workspace(_ shape: Shape, faults: FaultOptions = FaultOptions()) async throws -> Workspace {
            try await Workspace.make(faults: faults) { options in
                options.referenceAnswers = shape == .reference
                options.wrapFinetune = shape == .wrapped
            }
        }

        @Test(arguments: Shape.allCases)
        func aJobCompletesExactlyAgainstEveryAnswerShape(_ shape: Shape) async throws {
            try await withWorkspace(try await workspace(shape)) { workspace in
                try workspace.writeConfig(name: "shape", steps: 4, groups: 3, rollouts: 3, concurrency: 3, every: 2, eval: true)
                let result = try await workspace.run(["run", "config.json", "--log-format", "json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                let finetune = try #require(await workspace.finetune("shape"))
                #expect(finetune.step == 4)
                #expect(finetune.trainStepsApplied == 4)
                #expect(finetune.checkpoints == [2, 4])
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                let steps = try await workspace.steps("shape")
                #expect(steps.map(\.k) == [1, 2, 3, 4])
                #expect(steps.allSatisfy { $0.lr == 0.002 && $0.mode == .rl })
                let job = try await workspace.statusJSON("shape")
                #expect(job["state"] as? String == "completed")
                #expect(job["server_step"] as? Int == 4)
                let checkpoints = try #require(job["checkpoints"] as? [[String: Any]])
                switch shape {
                case .reference:
                    #expect(steps.allSatisfy { $0.serverStep == nil && $0.train.isEmpty })
                    #expect(job["last_train"] is NSNull)
                    #expect(checkpoints.allSatisfy { $0["expires_at_ms"] is NSNull })
                    // The reference has no metrics endpoint: pushing turned off with one notice.
                    #expect(result.stdout.components(separatedBy: "no metrics endpoint").count == 2, "\(result.stdout.suffix(2000))")
                case .live, .wrapped:
                    #expect(steps.map(\.serverStep) == [1, 2, 3, 4])
                    #expect(steps.allSatisfy { $0.train.kl != nil && $0.train.gradNorm != nil })
                    let last = try #require(job["last_train"] as? [String: Any])
                    #expect(last["step"] as? Int == 4)
                    #expect(last["kl"] is Double)
                    #expect(checkpoints.allSatisfy { $0["expires_at_ms"] is Int })
                    let pushed = await workspace.simulator.loggedMetrics(finetuneID: finetune.finetuneID)
                    #expect(Set(pushed.keys).isSuperset(of: [1, 2, 3, 4]), "\(pushed.keys.sorted())")
                    #expect(pushed[4]?["train/reward_mean"] != nil)
                    #expect(pushed[0]?["eval/reward_mean"] != nil, "the baseline eval is pushed at step 0")
                    // With each skill's eval metrics beside its reward.
                    let baseline = pushed[0] ?? [:]
                    let metricNames = ["query": ["accuracy"], "detect": ["precision", "recall", "f1"], "point": ["mean_distance", "hit_rate"]]
                    let evaluated = metricNames.keys.filter { baseline["eval/\($0)/reward_mean"] != nil }
                    #expect(!evaluated.isEmpty, "\(baseline.keys.sorted())")
                    for skill in evaluated {
                        for name in metricNames[skill] ?? [] {
                            #expect(baseline["eval/\(skill)/\(name)"] != nil, "eval/\(skill)/\(name) not pushed: \(baseline.keys.sorted())")
                        }
                    }
                    #expect(!result.stdout.contains("no metrics endpoint"))
                }
                // The export carries the lr and the answer's numbers.
                let export = try await workspace.run(["export", "shape", "--format", "jsonl"])
                #expect(export.status == 0)
                let rows = export.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.filter { $0["kind"] as? String == "step" }
                #expect(rows.count == 4)
                #expect(rows.allSatisfy { $0["lr"] as? Double == 0.002 })
                #expect(rows.allSatisfy { shape == .reference ? $0["kl"] is NSNull : $0["kl"] is Double })
            }
        }

        @Test(arguments: Shape.allCases)
        func aTrainStepSlowerThanItsDeadlineLandsLateAndIsRecordedOnce(_ shape: Shape) async throws {
            var faults = FaultOptions()
            faults.slowTrainRate = 0.34
            faults.slowTrainMs = 2000
            try await withWorkspace(try await workspace(shape, faults: faults)) { workspace in
                // The deadline (1.2 s) is shorter than a slow step (2 s); the window since sending
                // (5 s) covers it, as the default (the deadline itself) covers a live step that is
                // still running when its answer is lost.
                try workspace.writeConfig(name: "late", steps: 6, groups: 2, rollouts: 2, concurrency: 2, every: 6,
                                          extraAPI: ["train_step_timeout_s": 1.2, "in_doubt_wait_s": 5])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                let finetune = try #require(await workspace.finetune("late"))
                #expect(finetune.step == 6)
                #expect(finetune.trainStepsApplied == 6)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                let steps = try await workspace.steps("late")
                #expect(steps.map(\.k) == Array(1...6))
                #expect(steps.contains { $0.reconciled }, "at least one slow step was seen landing by the watch")
            }
        }

        @Test func withAShortInDoubtWaitALateLandingIsDetectedAndTheJobFailsNeverCompletes() async throws {
            // The first step is held on the simulator's clock, which only this test moves: it lands
            // when the test lets it, after moontune has given up on it (1.2 s deadline, 0.3 s window)
            // and concluded it did not land, however loaded the machine.
            let clock = ManualSimulatorClock()
            var slow = FaultOptions()
            slow.slowTrainRate = 1
            slow.slowTrainMs = 4000
            try await withWorkspace(try await Workspace.make(faults: slow) { $0.clock = clock }) { workspace in
                // The user set a window (0.3 s) shorter than the first step really runs (4 s): moontune
                // concludes "did not land" too early and sends step 1 again. The late landing shows in
                // the next answer's step, and the job stops there, failed.
                try workspace.writeConfig(name: "short", steps: 12, groups: 2, rollouts: 2, concurrency: 2, every: 12,
                                          extraAPI: ["train_step_timeout_s": 1.2, "in_doubt_wait_s": 0.3])
                let running = try workspace.start(["run", "config.json"])
                // Only the first train_step is slow: once the simulator holds it, the rest are answered at once.
                try await clock.waitForSleepers(1, timeout: .seconds(30))
                await workspace.simulator.setFaults(FaultOptions())
                #expect(await workspace.simulator.stats().faultsInjected.slowTrainStep == 1)
                // Its conclusion, after the window: "step 1 did not land on the server ... it runs again".
                try await waitUntil("moontune to conclude that step 1 did not land", seconds: 30) {
                    running.stdoutSoFar.contains("did not land on the server")
                }
                #expect(clock.sleeperCount == 1, "the first step is still held")
                // Now it lands, late: the server is a step ahead of what moontune has recorded.
                clock.advance(by: .milliseconds(4000))
                let result = await running.wait()
                #expect(result.status != 0, "\(result.stdout.suffix(1500))")
                let job = try #require(try await workspace.job("short"))
                #expect(job.state == .failed)
                let error = job.lastError ?? ""
                #expect(error.contains("applied twice"), "\(error)")
                #expect(error.contains("moontune expected"))
                let checkpoints = await workspace.finetune("short")?.checkpoints ?? []
                #expect(!checkpoints.contains(12), "no final checkpoint over a doubled step")
                #expect(try await workspace.steps("short").count < 12)
            }
        }

        @Test func sftStepsComeFirstAndTeachTheLiveServiceThenRLGoesOn() async throws {
            try await withWorkspace(try await workspace(.live)) { workspace in
                try workspace.writeConfig(name: "sft", steps: 5, groups: 3, rollouts: 2, concurrency: 3, every: 5,
                                          extraTrain: ["sft_steps": 2])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                let steps = try await workspace.steps("sft")
                #expect(steps.map(\.k) == Array(1...5))
                #expect(steps.map(\.mode) == [.sft, .sft, .rl, .rl, .rl])
                #expect(steps.prefix(2).allSatisfy { $0.train.sftLoss != nil && $0.rewardMean == nil })
                #expect(steps.suffix(3).allSatisfy { $0.rewardMean != nil })
                #expect(await workspace.finetune("sft")?.step == 5)
            }
        }

        @Test func aServerThatRefusesSFTGroupsStopsTheJobBeforeAnyRLStepWithAClearError() async throws {
            try await withWorkspace(try await workspace(.reference)) { workspace in
                try workspace.writeConfig(name: "nosft", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 4,
                                          extraTrain: ["sft_steps": 1])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status != 0)
                let job = try #require(try await workspace.job("nosft"))
                #expect(job.state == .failed)
                #expect(job.lastError?.contains("train.sft_steps") == true, "\(job.lastError ?? "")")
                #expect(try await workspace.steps("nosft").isEmpty, "nothing was applied or left in doubt")
                #expect(await workspace.finetune("nosft")?.step == 0)
            }
        }

        @Test func declinedStepsRunAgainWithTheSameExamplesAndTheServerStaysInStep() async throws {
            var faults = FaultOptions()
            faults.unappliedTrainRate = 0.3
            try await withWorkspace(seed: 5, faults: faults) { workspace in
                try workspace.writeConfig(name: "declined", steps: 6, groups: 2, rollouts: 2, concurrency: 2, every: 3)
                let result = try await workspace.run(["run", "config.json"])
                let stats = await workspace.simulator.stats()
                let finetune = try #require(await workspace.finetune("declined"))
                let steps = try await workspace.steps("declined")
                if result.status == 0 {
                    #expect(finetune.step == 6)
                    #expect(steps.map(\.k) == Array(1...6))
                    #expect(steps.map(\.serverStep) == (1...6).map { Optional($0) }, "moontune's step k is the server's step k")
                } else {
                    // Three declines in a row of one step stop the job, loudly, with the record exact.
                    #expect(try await workspace.job("declined")?.lastError?.contains("declined 3 times") == true)
                    #expect(finetune.step == steps.count)
                }
                #expect(stats.doubleApplications == 0)
                // The same examples as a run that was never declined.
                try await withWorkspace(seed: 5) { clean in
                    try clean.writeConfig(name: "declined", steps: 6, groups: 2, rollouts: 2, concurrency: 2, every: 3)
                    #expect(try await clean.run(["run", "config.json"]).status == 0)
                    let expected = try await clean.steps("declined").prefix(steps.count).map(\.exampleIDs)
                    #expect(steps.map(\.exampleIDs) == Array(expected))
                    let events = try await ProgressStore(path: workspace.database.path).events(jobID: steps.first?.jobID ?? 1, limit: 100,
                                                                                               kinds: ["declined"])
                    #expect(!events.isEmpty, "the seed makes the server decline at least one step")
                }
            }
        }
    }
}
