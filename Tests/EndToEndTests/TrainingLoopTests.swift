import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `moontune run` end to end: the real binary against the simulator on 127.0.0.1.
    @Suite struct TrainingLoopTests {
        /// Runs a job to completion and checks what the server saw.
        func completeJob(skills: Set<String>, name: String) async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 25
            faults.trainLatencyMs = 5
            try await withWorkspace(skills: skills, faults: faults) { workspace in
                try workspace.writeConfig(name: name, steps: 7, groups: 6, rollouts: 3, concurrency: 3, every: 3, eval: true)

                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "stderr: \(result.stderr)\nstdout: \(result.stdout)")

                let stats = await workspace.simulator.stats()
                let finetune = try #require(await workspace.finetune(name))
                #expect(finetune.trainStepsApplied == 7)
                #expect(finetune.step == 7)
                #expect(finetune.checkpoints == [3, 6, 7])
                #expect(stats.doubleApplications == 0)
                #expect(stats.rejectedRollouts == 0)
                #expect(stats.refused == 0)
                #expect(stats.responsesByStatus.keys.allSatisfy { $0.hasPrefix("2") || $0 == "404" }, "\(stats.responsesByStatus)")
                #expect(stats.maxInFlight == 3, "the bound was \(3), the server saw \(stats.maxInFlight)")

                let job = try #require(try await workspace.job(name))
                #expect(job.state == .completed)
                let steps = try await workspace.steps(name)
                #expect(steps.map(\.k) == Array(1...7))
                #expect(steps.allSatisfy { $0.state == .applied && $0.rewardMean != nil })

                // Run again: already complete, nothing changes.
                let again = try await workspace.run(["run", "config.json"])
                #expect(again.status == 0)
                #expect(again.stdout.contains("already complete"))
                #expect(await workspace.finetune(name)?.trainStepsApplied == 7)
            }
        }

        @Test func aPointJobCompletes() async throws { try await completeJob(skills: ["point"], name: "point-job") }
        @Test func aDetectJobCompletes() async throws { try await completeJob(skills: ["detect"], name: "detect-job") }
        @Test func aQueryJobCompletes() async throws { try await completeJob(skills: ["query"], name: "query-job") }
        @Test func aMixedJobCompletes() async throws { try await completeJob(skills: ["point", "detect", "query"], name: "mixed-job") }

        @Test func ambiguousTrainStepsAreReconciledWithoutDoubleApplication() async throws {
            var faults = FaultOptions()
            faults.ambiguousTrainRate = 0.25
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "ambiguous", steps: 16, groups: 3, rollouts: 2, concurrency: 3, every: 5)

                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)")
                let stats = await workspace.simulator.stats()
                #expect(stats.faultsInjected.ambiguousTrainStep > 0, "the fault never fired; the test proves nothing")
                let finetune = try #require(await workspace.finetune("ambiguous"))
                #expect(finetune.trainStepsApplied == 16)
                #expect(stats.doubleApplications == 0)
                #expect(finetune.checkpoints == [5, 10, 15, 16])
                let steps = try await workspace.steps("ambiguous")
                #expect(steps.map(\.k) == Array(1...16))
                #expect(steps.contains { $0.reconciled })
            }
        }

        @Test func sigtermStopsBetweenStepsAndRunResumes() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 40
            faults.trainLatencyMs = 40
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "stoppable", steps: 40, groups: 2, rollouts: 2, concurrency: 2, every: 10)

                let running = try workspace.start(["run", "config.json"])
                try await waitForStep(workspace, "stoppable", atLeast: 2)
                running.signal(SIGTERM)
                let stopped = await running.wait()
                #expect(stopped.status == 0, "\(stopped.stderr)")
                let job = try #require(try await workspace.job("stoppable"))
                #expect(job.state == .stopped)
                let stoppedAt = try await workspace.steps("stoppable").filter { $0.state == .applied }.count
                #expect(stoppedAt < 40)
                #expect(try await workspace.steps("stoppable").allSatisfy { $0.state == .applied }, "no step left in doubt after a graceful stop")
                #expect(await workspace.finetune("stoppable")?.trainStepsApplied == stoppedAt)

                let resumed = try await workspace.run(["run", "config.json"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                #expect(await workspace.finetune("stoppable")?.trainStepsApplied == 40)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
                #expect(await workspace.finetune("stoppable")?.checkpoints == [10, 20, 30, 40])
            }
        }

        @Test func sigtermDuringAnInDoubtWaitStopsAtOnceAndTheNextRunReconciles() async throws {
            var faults = FaultOptions()
            faults.trainLatencyMs = 2000
            try await withWorkspace(faults: faults) { workspace in
                // The first train_step times out after 0.5 s and is left 30 s to land.
                try workspace.writeConfig(name: "doubt", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                          extraAPI: ["train_step_timeout_s": 0.5, "in_doubt_wait_s": 30])
                let running = try workspace.start(["run", "config.json"])
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    if FileManager.default.fileExists(atPath: workspace.database.path),
                       (try? await workspace.steps("doubt"))?.first?.state == .intent { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                // The train_step times out (0.5 s) and the in-doubt wait begins: the runner says so.
                try await waitUntil("the in-doubt wait to begin", seconds: 20) { running.stdoutSoFar.contains("in doubt") }
                let signalled = ContinuousClock.now
                running.signal(SIGTERM)
                let stopped = await running.wait()
                #expect(stopped.status == 0, "\(stopped.stderr)")
                #expect(ContinuousClock.now - signalled < .seconds(10), "a graceful stop does not sit out the in-doubt wait")
                #expect(try await workspace.job("doubt")?.state == .stopped)
                #expect(try await workspace.steps("doubt").first?.state == .intent, "the step in doubt stays recorded as such")

                await workspace.simulator.setFaults(FaultOptions())
                try workspace.writeConfig(name: "doubt", steps: 3, groups: 2, rollouts: 2, concurrency: 2, every: 3,
                                          extraAPI: ["in_doubt_wait_s": 3])
                let resumed = try await workspace.run(["run", "config.json"])
                #expect(resumed.status == 0, "\(resumed.stderr)")
                let steps = try await workspace.steps("doubt")
                #expect(steps.map(\.k) == [1, 2, 3])
                #expect(steps.first?.reconciled == true, "the slow step had landed and was recorded, not sent again")
                #expect(await workspace.finetune("doubt")?.trainStepsApplied == 3)
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }

        @Test func aSecondRunIsRefusedAndTheFirstCompletesUndisturbed() async throws {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 30
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "single", steps: 12, groups: 2, rollouts: 2, concurrency: 2, every: 4)

                let first = try workspace.start(["run", "config.json"])
                try await waitForStep(workspace, "single", atLeast: 1)
                let second = try await workspace.run(["run", "config.json"])
                #expect(second.status != 0)
                #expect(second.stderr.contains("already running"), "\(second.stderr)")
                let firstResult = await first.wait()
                #expect(firstResult.status == 0, "\(firstResult.stderr)")
                #expect(await workspace.finetune("single")?.trainStepsApplied == 12)
                #expect(try await workspace.job("single")?.state == .completed)
            }
        }

        @Test func aChangedTrainingConfigIsRefusedWithWhatChanged() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "fixed", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 1)
                #expect(try await workspace.run(["run", "config.json"]).status == 0)
                try workspace.writeConfig(name: "fixed", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 1, extraTrain: ["lr": 0.005])
                let refused = try await workspace.run(["run", "config.json"])
                #expect(refused.status != 0)
                #expect(refused.stderr.contains("lr"), "\(refused.stderr)")
                #expect(await workspace.finetune("fixed")?.trainStepsApplied == 2)
                // Steps, concurrency and cadence may change: extending the job works.
                try workspace.writeConfig(name: "fixed", steps: 4, groups: 2, rollouts: 2, concurrency: 1, every: 2)
                let extended = try await workspace.run(["run", "config.json"])
                #expect(extended.status == 0, "\(extended.stderr)")
                #expect(await workspace.finetune("fixed")?.trainStepsApplied == 4)
            }
        }
    }
}

/// Polls the database until the job has applied `atLeast` steps.
func waitForStep(_ workspace: Workspace, _ name: String, atLeast step: Int, timeout: Duration = .seconds(30)) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if FileManager.default.fileExists(atPath: workspace.database.path),
           let steps = try? await workspace.steps(name), steps.filter({ $0.state == .applied }).count >= step {
            return
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("job \(name) did not reach step \(step) within \(timeout)")
}
