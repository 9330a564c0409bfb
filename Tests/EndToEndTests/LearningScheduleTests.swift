import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `train.lr_schedule` on the real binary: the lr of every step is the contract's, however
    /// often the job is killed and resumed.
    @Suite struct LearningScheduleTests {
        @Test func aCosineScheduleWithWarmUpSendsTheContractsLrAtEveryStepAcrossKills() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 20
            faults.trainLatencyMs = 30
            try await withWorkspace(try await Workspace.make(seed: 4, faults: faults)) { workspace in
                let steps = 14, warmup = 3, lr = 0.004, final = 0.0004
                try workspace.writeConfig(name: "cosine", steps: steps, groups: 2, rollouts: 2, concurrency: 2, every: 5,
                                          extraTrain: ["lr": lr, "lr_schedule": ["type": "cosine", "warmup_steps": warmup, "final_lr": final]])
                // Kill it a few times at seeded moments, then let it finish.
                var random = SeededKills(seed: 42)
                var kills = 0
                for _ in 0..<6 where kills < 3 {
                    let running = try workspace.start(["run", "config.json", "--quiet"])
                    try await Task.sleep(for: .milliseconds(random.next(in: 150...450)))
                    running.signal(SIGKILL)
                    let result = await running.wait()
                    if result.killedBySignal { kills += 1 } else if result.status == 0 { break }
                }
                let final_ = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final_.status == 0, "\(final_.stderr)")
                #expect(kills >= 1, "at least one kill landed")
                let recorded = try await workspace.steps("cosine")
                #expect(recorded.map(\.k) == Array(1...steps))
                for step in recorded {
                    let k = step.k
                    let expected: Double
                    if k <= warmup {
                        expected = lr * Double(k) / Double(warmup)
                    } else {
                        let t = Double(k - warmup) / Double(steps - warmup)
                        expected = final + (lr - final) * (1 + cos(Double.pi * t)) / 2
                    }
                    #expect(abs((step.lr ?? -1) - expected) < 1e-12, "step \(k): \(step.lr ?? -1) where the contract says \(expected)")
                }
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                // The schedule is a training setting: changing it on a started job is refused.
                try workspace.writeConfig(name: "cosine", steps: steps, groups: 2, rollouts: 2, concurrency: 2, every: 5,
                                          extraTrain: ["lr": lr, "lr_schedule": ["type": "linear", "warmup_steps": warmup, "final_lr": final]])
                let changed = try await workspace.run(["run", "config.json"])
                #expect(changed.status != 0)
                #expect((changed.stdout + changed.stderr).contains("train.lr_schedule"), "\(changed.stdout)\(changed.stderr)")
            }
        }
    }
}

/// Kill times from a seed (SplitMix64), so a failing run replays.
struct SeededKills {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(in range: ClosedRange<Int>) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return range.lowerBound + Int(z % UInt64(range.count))
    }
}

extension EndToEnd {
    /// Budgets and early stop on the real binary.
    @Suite struct BudgetAndEarlyStopTests {
        @Test func aRolloutBudgetStopsTheJobSavedAtAStepBoundaryAndALargerOneFinishesIt() async throws {
            try await withWorkspace { workspace in
                // 4 groups × 4 rollouts = 16 a step: 200 rollouts allow 12 steps.
                try workspace.writeConfig(name: "budgeted", steps: 20, groups: 4, rollouts: 4, concurrency: 4, every: 5,
                                          extra: ["budget": ["max_rollouts": 200]])
                let stopped = try await workspace.run(["run", "config.json"])
                #expect(stopped.status == 0, "\(stopped.stderr)\n\(stopped.stdout.suffix(800))")
                let job = try #require(try await workspace.job("budgeted"))
                #expect(job.state == .stopped)
                #expect(job.stopReason == "budget")
                #expect(try await workspace.steps("budgeted").map(\.k) == Array(1...12))
                let finetune = try #require(await workspace.finetune("budgeted"))
                #expect(finetune.step == 12)
                #expect(finetune.checkpoints.contains(12), "the last applied step is saved")
                let rolloutRequests = await workspace.simulator.stats().requestsByEndpoint["POST /v1/tuning/rollouts"] ?? 0
                #expect(rolloutRequests * 4 <= 200, "no rollout past the budget was asked for: \(rolloutRequests) requests")
                let status = try await workspace.statusJSON("budgeted")
                #expect(status["stop_reason"] as? String == "budget")
                let budget = try #require(status["budget"] as? [String: Any])
                #expect(budget["rollouts_spent"] as? Int == 192)
                #expect(budget["rollouts_left"] as? Int == 8)
                let text = try await workspace.run(["status", "budgeted"])
                #expect(text.stdout.contains("rollouts 192 of 200"), "\(text.stdout)")

                try workspace.writeConfig(name: "budgeted", steps: 20, groups: 4, rollouts: 4, concurrency: 4, every: 5,
                                          extra: ["budget": ["max_rollouts": 1000]])
                let finished = try await workspace.run(["run", "config.json"])
                #expect(finished.status == 0, "\(finished.stderr)")
                #expect(try await workspace.job("budgeted")?.state == .completed)
                #expect(try await workspace.steps("budgeted").map(\.k) == Array(1...20))
                #expect(await workspace.finetune("budgeted")?.step == 20)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test func earlyStopEndsAPlateauedRunWithItsBestCheckpointKept() async throws {
            try await withWorkspace { workspace in
                // A learning rate so small that nothing is learned: the eval reward stays flat.
                try workspace.writeConfig(name: "plateau", steps: 30, groups: 2, rollouts: 2, concurrency: 2, every: 2, eval: true,
                                          extraTrain: ["lr": 1e-9],
                                          extra: ["early_stop": ["patience": 2, "min_delta": 0.05], "checkpoint": ["every_steps": 2, "keep_last": 1]])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(800))")
                let job = try #require(try await workspace.job("plateau"))
                #expect(job.state == .completed)
                #expect(job.stopReason == "early_stop")
                let steps = try await workspace.steps("plateau")
                #expect(steps.count < 30, "it ended early, at step \(steps.count)")
                let finetune = try #require(await workspace.finetune("plateau"))
                #expect(finetune.checkpoints.contains(steps.count), "saved at its end")
                let status = try await workspace.statusJSON("plateau")
                #expect(status["stop_reason"] as? String == "early_stop")
                let text = try await workspace.run(["status", "plateau"])
                #expect(text.stdout.contains("ended      early"), "\(text.stdout)")
                // Run again: complete, nothing changes.
                let again = try await workspace.run(["run", "config.json"])
                #expect(again.status == 0)
                #expect(try await workspace.steps("plateau").count == steps.count)
            }
        }
    }
}
