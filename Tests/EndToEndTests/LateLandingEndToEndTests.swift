import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// Issue 20, on the real binary: a train_step that outlasts its deadline and lands late, at a
    /// chosen step, held on the simulator's clock (which only the test moves), so that it lands
    /// exactly when the test says however loaded the machine.
    @Suite struct LateLandingEndToEndTests {
        enum Shape: String, CaseIterable, Sendable { case reference, live }

        func workspace(_ shape: Shape, slowStep: Int, clock: ManualSimulatorClock) async throws -> Workspace {
            var faults = FaultOptions()
            faults.slowTrainSteps = [slowStep]
            faults.slowTrainMs = 60_000
            return try await Workspace.make(faults: faults) { options in
                options.referenceAnswers = shape == .reference
                options.clock = clock
            }
        }

        /// Writes the config without `api.in_doubt_wait_s`, so that the default applies.
        func writeConfigWithDefaultWindow(_ workspace: Workspace, name: String, steps: Int, deadline: Double) throws {
            let url = try workspace.writeConfig(name: name, steps: steps, groups: 2, rollouts: 2, concurrency: 2, every: steps,
                                                extraAPI: ["train_step_timeout_s": deadline])
            var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            var api = try #require(config["api"] as? [String: Any])
            api.removeValue(forKey: "in_doubt_wait_s")
            config["api"] = api
            try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: url)
        }

        @Test(arguments: Shape.allCases)
        func withTheDefaultsAStepThatLandsAfterItsDeadlineIsWatchedPastItAndRecordedOnce(_ shape: Shape) async throws {
            let clock = ManualSimulatorClock()
            try await withWorkspace(try await workspace(shape, slowStep: 2, clock: clock)) { workspace in
                // A 2 s deadline; by default the window is two deadlines from the send (4 s).
                try writeConfigWithDefaultWindow(workspace, name: "late", steps: 4, deadline: 2)
                let running = try workspace.start(["run", "config.json"])
                try await waitUntil("step 2 to be held and in doubt", seconds: 60) {
                    clock.sleeperCount == 1 && running.stdoutSoFar.contains("step 2 in doubt: waiting up to")
                }
                // Past the deadline, and past the old default window (the deadline itself, from the
                // send), the step is still running on the server: moontune must still be watching.
                try await Task.sleep(for: .seconds(1))
                #expect(!running.stdoutSoFar.contains("did not land on the server"), "\(running.stdoutSoFar.suffix(1500))")
                clock.advance(by: .milliseconds(60_000))
                let result = await running.wait()
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(1500))")
                let finetune = try #require(await workspace.finetune("late"))
                #expect(finetune.step == 4)
                #expect(finetune.trainStepsApplied == 4, "step 2 was applied once")
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                let steps = try await workspace.steps("late")
                #expect(steps.map(\.k) == [1, 2, 3, 4])
                #expect(steps.first { $0.k == 2 }?.reconciled == true, "step 2 was seen landing by the watch")
                #expect(try await workspace.job("late")?.state == .completed)
                #expect(!result.stdout.contains("final check"), "no step was concluded \"never landed\"")
            }
        }

        @Test(arguments: Shape.allCases)
        func withAShortWindowALastStepThatLandsAfterTheFinalCheckpointFailsTheJobNamingIt(_ shape: Shape) async throws {
            let clock = ManualSimulatorClock()
            try await withWorkspace(try await workspace(shape, slowStep: 3, clock: clock)) { workspace in
                // The user's window (0.3 s) is shorter than the step really runs: moontune concludes
                // "never landed", sends step 3 again, saves the final checkpoint, and then waits one
                // deadline (3 s) for the final check.
                try workspace.writeConfig(name: "short", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                          extraAPI: ["train_step_timeout_s": 3, "in_doubt_wait_s": 0.3])
                let running = try workspace.start(["run", "config.json"])
                try await waitUntil("step 3 to be held", seconds: 60) { clock.sleeperCount == 1 }
                try await waitUntil("the final check's wait", seconds: 60) { running.stdoutSoFar.contains("final check: step 3") }
                #expect(running.stdoutSoFar.contains("did not land on the server"))
                // Waiting for it is visible in status.
                let status = try await workspace.statusJSON("short")
                let check = try #require(status["final_check"] as? [String: Any], "\(status)")
                #expect(check["step"] as? Int == 3)
                #expect(status["state"] as? String == "running")
                let text = try await workspace.run(["status", "short"])
                #expect(text.stdout.contains("final check step 3 was concluded \"never landed\" by waiting"), "\(text.stdout)")
                #expect(await workspace.finetune("short")?.checkpoints.contains(3) == true, "the final checkpoint was saved")
                // Now the first sending of step 3 lands, after the final checkpoint.
                clock.advance(by: .milliseconds(60_000))
                let result = await running.wait()
                #expect(result.status != 0, "\(result.stdout.suffix(1500))")
                let job = try #require(try await workspace.job("short"))
                #expect(job.state == .failed)
                let error = job.lastError ?? ""
                #expect(error.hasPrefix("step 3 was applied twice"), "\(error)")
                #expect(error.contains("the final check"))
                #expect(await workspace.finetune("short")?.step == 4)
                #expect(try await workspace.steps("short").map(\.k) == [1, 2, 3])
            }
        }

        @Test(arguments: Shape.allCases)
        func withAShortWindowAStepInTheMiddleThatLandsLateFailsTheJobNamingIt(_ shape: Shape) async throws {
            let clock = ManualSimulatorClock()
            try await withWorkspace(try await workspace(shape, slowStep: 3, clock: clock)) { workspace in
                try workspace.writeConfig(name: "middle", steps: 6, groups: 2, rollouts: 2, concurrency: 2, every: 6,
                                          extraAPI: ["train_step_timeout_s": 1.2, "in_doubt_wait_s": 0.3])
                let running = try workspace.start(["run", "config.json"])
                try await waitUntil("step 3 to be held", seconds: 60) { clock.sleeperCount == 1 }
                try await waitUntil("moontune to conclude that step 3 did not land", seconds: 60) {
                    running.stdoutSoFar.contains("step 3 did not land on the server")
                }
                clock.advance(by: .milliseconds(60_000))
                let result = await running.wait()
                #expect(result.status != 0, "\(result.stdout.suffix(1500))")
                let job = try #require(try await workspace.job("middle"))
                #expect(job.state == .failed, "never completed over a doubled step")
                let error = job.lastError ?? ""
                #expect(error.lowercased().contains("step 3 was applied twice"), "\(error)")
                // Whichever check saw it first (the next answer's step, the final save, or the final
                // check), the server is one step ahead of everything the record explains.
                let recorded = try await workspace.steps("middle").filter { $0.state == .applied }.count
                #expect(await workspace.finetune("middle")?.step == recorded + 1)
            }
        }
    }
}
