import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `kill -9` at random moments, restart each time: the job still completes exactly.
    @Suite struct CrashResumeTests {
        struct Outcome {
            var exampleIDs: [Int: String]
            var checkpoints: [Int]
            var trainSteps: Int
            var doubleApplications: Int
            var kills: Int
            var integrity: [String]
            var ambiguousAnswers: Int
            /// For the failure messages: the seed that replays the kill times.
            var replay: String
        }

        /// Runs the job, killing it `kills` times at random moments (or never), and returns what the
        /// record and the server say at the end.
        func runJob(kills: Int, staleness: Int = 0, ambiguousRate: Double = 0, keepLast: Int? = nil, seed: UInt64) async throws -> Outcome {
            var faults = FaultOptions()
            faults.rolloutLatencyMs = 15
            faults.trainLatencyMs = 25
            faults.otherLatencyMs = 10
            faults.ambiguousTrainRate = ambiguousRate
            let seed = kills > 0 ? KillSeed.resolve(seed, test: "CrashResumeTests") : seed
            let replay = KillSeed.note(seed)
            return try await withWorkspace(seed: 11, faults: faults) { workspace in
                var checkpoint: [String: Any] = ["every_steps": 4]
                if let keepLast { checkpoint["keep_last"] = keepLast }
                try workspace.writeConfig(name: "crashy", steps: 40, groups: 3, rollouts: 2, concurrency: 3, every: 4, eval: true,
                                          extraTrain: ["max_staleness": staleness], extra: ["checkpoint": checkpoint])
                var random = SeededGenerator(seed: seed)
                var integrity: [String] = []
                var killed = 0
                var attempts = 0
                while killed < kills && attempts < kills * 3 {
                    attempts += 1
                    let running = try workspace.start(["run", "config.json", "--quiet"])
                    // Anywhere from start-up (reconciliation, checkpoint sync) to the middle of a step.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 20...300, using: &random)))
                    running.signal(SIGKILL)
                    let result = await running.wait()
                    if result.killedBySignal { killed += 1 }
                    if result.status == 0 && !result.killedBySignal { break }  // finished before the kill
                    if FileManager.default.fileExists(atPath: workspace.database.path) {
                        let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                        integrity.append(try await store.integrityCheck())
                    }
                }
                let final = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final.status == 0, "\(replay) \(final.stderr)")
                let steps = try await workspace.steps("crashy")
                #expect(steps.map(\.k) == Array(1...40), "\(replay)")
                #expect(steps.allSatisfy { $0.state == .applied }, "\(replay)")
                let stats = await workspace.simulator.stats()
                let finetune = await workspace.finetune("crashy")
                return Outcome(exampleIDs: Dictionary(uniqueKeysWithValues: steps.map { ($0.k, $0.exampleIDs) }),
                               checkpoints: finetune?.checkpoints ?? [], trainSteps: finetune?.trainStepsApplied ?? -1,
                               doubleApplications: stats.doubleApplications, kills: killed, integrity: integrity,
                               ambiguousAnswers: stats.faultsInjected.ambiguousTrainStep, replay: replay)
            }
        }

        @Test func killedTwentyTimesTheJobCompletesExactlyWithTheSameDataOrder() async throws {
            let reference = try await runJob(kills: 0, seed: 1)
            let crashed = try await runJob(kills: 20, seed: 2)
            #expect(crashed.kills >= 20, "\(crashed.replay) only \(crashed.kills) kills landed")
            #expect(crashed.trainSteps == 40, "\(crashed.replay)")
            #expect(crashed.doubleApplications == 0, "\(crashed.replay)")
            #expect(crashed.checkpoints == Array(stride(from: 4, through: 40, by: 4)), "\(crashed.replay)")
            #expect(crashed.checkpoints == reference.checkpoints, "\(crashed.replay)")
            #expect(crashed.exampleIDs == reference.exampleIDs, "\(crashed.replay) the data order changed across crashes")
            #expect(crashed.integrity.allSatisfy { $0 == "ok" }, "\(crashed.replay) \(crashed.integrity)")
        }

        @Test func killedWhilePipeliningAndWithAmbiguousAnswersTheJobStillCompletesExactly() async throws {
            let reference = try await runJob(kills: 0, staleness: 1, seed: 3)
            let crashed = try await runJob(kills: 12, staleness: 1, ambiguousRate: 0.15, seed: 4)
            #expect(crashed.trainSteps == 40, "\(crashed.replay)")
            #expect(crashed.doubleApplications == 0, "\(crashed.replay)")
            #expect(crashed.checkpoints == Array(stride(from: 4, through: 40, by: 4)), "\(crashed.replay)")
            #expect(crashed.exampleIDs == reference.exampleIDs, "\(crashed.replay)")
            #expect(crashed.integrity.allSatisfy { $0 == "ok" }, "\(crashed.replay) \(crashed.integrity)")
            // Rate 0.15 over 40 train_steps and their retries: an ambiguous answer is all but certain
            // (0.85^40 < 0.2 %), so the name's "with ambiguous answers" is checked, not assumed.
            #expect(crashed.ambiguousAnswers > 0, "\(crashed.replay) no ambiguous answer was injected")
        }
    }
}
