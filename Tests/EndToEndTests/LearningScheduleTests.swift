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
            let workspace = try await Workspace.make(seed: 4, faults: faults)
            defer { Task { await workspace.close() } }
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
