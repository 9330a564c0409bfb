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
            let workspace = try await Workspace.make(faults: faults)
            defer { Task { await workspace.close() } }
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

        @Test func aTrainStepSlowerThanItsDeadlineIsWatchedUntilItLandsAndRecordedOnce() async throws {
            var faults = FaultOptions()
            faults.trainLatencyMs = 2000
            let workspace = try await Workspace.make(faults: faults)
            defer { Task { await workspace.close() } }
            // The client gives up on each train_step after 1.2 s; the server applies it at 2 s. With
            // a window longer than the step, moontune watches the server until it lands.
            try workspace.writeConfig(name: "late", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                      extraAPI: ["train_step_timeout_s": 1.2, "in_doubt_wait_s": 6])
            let result = try await workspace.run(["run", "config.json", "--log-format", "json"])
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
