import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// `checkpoint.keep_last` / `keep_best` during a run that is killed (`kill -9`) again and again:
    /// at the end the server and the record hold exactly the checkpoints the policy names.
    @Suite struct RetentionTests {
        static let steps = 40
        static let every = 4

        /// What the policy keeps at the end, from the evals the run recorded: the `keepLast` latest
        /// cadence checkpoints, the final one, and (with `keepBest`) the cadence checkpoint with the
        /// best eval reward, the earliest among equals. Written from the documented policy, not from
        /// the planner's code.
        static func expectedCheckpoints(keepLast: Int, keepBest: Bool, evals: [Int: Double]) -> [Int] {
            let cadence = Array(stride(from: every, to: steps, by: every))
            var keep = Set(cadence.suffix(keepLast))
            keep.insert(steps)
            if keepBest {
                let saved = cadence + [steps]
                let scored = saved.compactMap { step in evals[step].map { (step, $0) } }
                if let top = scored.map(\.1).max(), let best = scored.filter({ $0.1 == top }).map(\.0).min() {
                    keep.insert(best)
                }
            }
            return keep.sorted()
        }

        struct Outcome {
            var expected: [Int]
            var kills: Int
            var favoured: Int?
        }

        /// Runs a retention job with `kills` random `kill -9`s, then to the end, and checks the server
        /// and the record against the policy. With `favour`, after the first kill the eval record of
        /// the oldest live cadence checkpoint is raised above any real reward, so that keep_best has
        /// to keep a checkpoint that keep_last would drop.
        func runJob(keepLast: Int, keepBest: Bool, kills: Int, ambiguousRate: Double = 0, serverFaults: Bool = false,
                    staleness: Int = 0, favour: Bool = false, seed: UInt64 = 13) async throws -> Outcome {
            let seed = KillSeed.resolve(seed, test: "RetentionTests")
            var faults = FaultOptions()
            if serverFaults {
                faults.serverErrorRate = 0.05
                faults.rateLimitRate = 0.03
                faults.retryAfterSeconds = 0.05
                faults.dropRate = 0.02
            }
            faults.rolloutLatencyMs = 15
            faults.trainLatencyMs = 25
            faults.otherLatencyMs = 10
            faults.ambiguousTrainRate = ambiguousRate
            return try await withWorkspace(seed: 13, faults: faults) { workspace in
                try workspace.writeConfig(name: "kept", steps: Self.steps, groups: 3, rollouts: 2, concurrency: 3, every: Self.every,
                                          eval: true, extraTrain: ["max_staleness": staleness],
                                          extra: ["checkpoint": ["every_steps": Self.every, "keep_last": keepLast, "keep_best": keepBest]])
                var random = SeededGenerator(seed: seed)
                var killed = 0
                var attempts = 0
                var favoured: Int?
                while killed < kills && attempts < kills * 3 {
                    attempts += 1
                    // Each run gets at least one step further, then dies anywhere in what follows
                    // (a train step, a checkpoint save, an eval, a deletion).
                    let before = try await appliedSteps(workspace)
                    let running = try workspace.start(["run", "config.json", "--quiet"])
                    try await waitUntil {
                        let applied = try await appliedSteps(workspace)
                        return applied > before || applied == Self.steps
                    }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...250, using: &random)))
                    running.signal(SIGKILL)
                    let result = await running.wait()
                    if result.killedBySignal { killed += 1 }
                    if result.status == 0 && !result.killedBySignal { break }
                    if favour && favoured == nil {
                        favoured = try await favourOldestCheckpoint(workspace)
                    }
                }
                let final = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final.status == 0, "\(KillSeed.note(seed)) \(final.stderr)")

                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let jobID = try #require(try await store.job(named: "kept")?.id)
                let steps = try await store.steps(jobID: jobID)
                #expect(steps.map(\.k) == Array(1...Self.steps))
                let evals = Dictionary(try await store.evals(jobID: jobID).map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a })
                let expected = Self.expectedCheckpoints(keepLast: keepLast, keepBest: keepBest, evals: evals)

                let finetune = try #require(await workspace.finetune("kept"))
                let stats = await workspace.simulator.stats()
                #expect(finetune.trainStepsApplied == Self.steps)
                #expect(stats.doubleApplications == 0)
                if serverFaults {
                    #expect(stats.faultsInjected.serverError > 0 && stats.faultsInjected.dropped > 0, "the faults never fired")
                }
                #expect(finetune.checkpoints == expected, "\(KillSeed.note(seed)) server keeps \(finetune.checkpoints), the policy says \(expected) (evals \(evals))")

                let record = try await store.checkpoints(jobID: jobID)
                #expect(record.filter(\.isLive).map(\.step) == expected, "the record keeps \(record.filter(\.isLive).map(\.step))")
                // Every deletion was recorded before and after its call, and matches the server's.
                let deleted = record.filter { !$0.isLive }
                // (The server holds each DELETE for 10 ms, so "before" is strictly earlier than "after".)
                #expect(deleted.allSatisfy { ($0.deletingAtMs ?? .max) < ($0.deletedAtMs ?? .min) }, "\(deleted)")
                #expect(deleted.map(\.step) == finetune.deletedCheckpoints)
                #expect(!deleted.isEmpty, "retention deleted nothing; the test proves nothing")
                #expect(try await store.integrityCheck() == "ok")
                if let favoured {
                    #expect(finetune.checkpoints.contains(favoured), "keep_best dropped the best checkpoint \(favoured)")
                }
                return Outcome(expected: expected, kills: killed, favoured: favoured)
            }
        }

        /// Applied steps so far; 0 while the first run is still creating the database.
        func appliedSteps(_ workspace: Workspace) async throws -> Int {
            guard FileManager.default.fileExists(atPath: workspace.database.path) else { return 0 }
            do {
                return try await workspace.steps("kept").filter { $0.state == .applied }.count
            } catch is StoreError {
                return 0
            }
        }

        /// Raises the recorded eval of the oldest live cadence checkpoint (not being deleted) to 2,
        /// above any reward the simulator gives. Returns its step, or nil when there is none yet.
        func favourOldestCheckpoint(_ workspace: Workspace) async throws -> Int? {
            let store = try ProgressStore(path: workspace.database.path)
            guard let jobID = try await store.job(named: "kept")?.id else { return nil }
            let evals = try await store.evals(jobID: jobID)
            let candidates = try await store.checkpoints(jobID: jobID).filter { checkpoint in
                checkpoint.isLive && checkpoint.deletingAtMs == nil && checkpoint.kind == .cadence
                    && evals.contains { $0.step == checkpoint.step }
            }
            guard let oldest = candidates.first, let eval = evals.first(where: { $0.step == oldest.step }) else { return nil }
            try await store.recordEval(EvalRecord(jobID: jobID, step: oldest.step, rewardMean: 2, count: eval.count,
                                                  perSkillJSON: eval.perSkillJSON, atMs: eval.atMs))
            return oldest.step
        }

        @Test func keepLastAndKeepBestLeaveExactlyThePolicysCheckpointsAcrossKills() async throws {
            let outcome = try await runJob(keepLast: 2, keepBest: true, kills: 8, favour: true)
            #expect(outcome.kills >= 4, "only \(outcome.kills) kills landed")
            #expect(outcome.favoured != nil, "no checkpoint could be favoured; keep_best was not exercised")
            if let favoured = outcome.favoured, favoured < 32 {
                #expect(outcome.expected == [favoured, 32, 36, 40])
            }
        }

        @Test func keepLastAloneHoldsUnderKillsServerFaultsAmbiguousAnswersAndPipelining() async throws {
            let outcome = try await runJob(keepLast: 1, keepBest: false, kills: 6, ambiguousRate: 0.15, serverFaults: true, staleness: 1)
            #expect(outcome.expected == [36, 40])
        }

        /// A runner killed while its DELETE is on the wire. `landed`: the call reached the server and
        /// was applied, but the answer was lost; otherwise the server still holds the checkpoint.
        /// Either way the next run finishes the deletion and records it, without guessing.
        @Test(arguments: [false, true])
        func aKillInTheMiddleOfADeletionIsFinishedByTheNextRun(landed: Bool) async throws {
            try await withWorkspace(seed: 17) { workspace in
                try workspace.writeConfig(name: "kept", steps: 12, groups: 3, rollouts: 2, concurrency: 3, every: 2,
                                          extra: ["checkpoint": ["every_steps": 2, "keep_last": 1]])
                let running = try workspace.start(["run", "config.json", "--quiet"])
                try await waitUntil("step 3") { try await appliedSteps(workspace) >= 3 }
                // From now on the server holds every checkpoint call: the next deletion is recorded as
                // started, sent, and still unanswered when the runner dies.
                var slow = FaultOptions()
                slow.otherLatencyMs = landed ? 1500 : 5000
                await workspace.simulator.setFaults(slow)
                // Only a deletion started after this is surely held (one sent before could still be
                // answered at once, and recorded before the kill).
                let slowSince = ProgressStore.nowMs()
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let jobID = try #require(try await store.job(named: "kept")?.id)
                var interrupted: CheckpointRecord?
                try await waitUntil("a deletion in flight") {
                    interrupted = try await store.checkpoints(jobID: jobID).first {
                        ($0.deletingAtMs ?? 0) >= slowSince && $0.deletedAtMs == nil
                    }
                    return interrupted != nil
                }
                running.signal(SIGKILL)
                #expect(await running.wait().killedBySignal)
                let step = try #require(interrupted?.step)
                #expect(try await store.checkpoints(jobID: jobID).first { $0.step == step }?.deletedAtMs == nil)
                await workspace.simulator.setFaults(FaultOptions())

                if landed {
                    // The held call lands after the runner died (or, if the kill came before it was sent,
                    // the same outcome is made by hand): the server deleted it, the answer is lost.
                    let deadline = ContinuousClock.now + .seconds(3)
                    while ContinuousClock.now < deadline, await workspace.finetune("kept")?.deletedCheckpoints.contains(step) != true {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    if await workspace.finetune("kept")?.deletedCheckpoints.contains(step) != true {
                        let finetuneID = try #require(try await workspace.job("kept")?.finetuneID)
                        #expect(try await workspace.api("DELETE", "/tuning/finetunes/\(finetuneID)/checkpoints/\(step)").0 == 200)
                    }
                    #expect(await workspace.finetune("kept")?.checkpoints.contains(step) == false)
                } else {
                    // Still held by the server for seconds: the next run finds the checkpoint there.
                    #expect(await workspace.finetune("kept")?.checkpoints.contains(step) == true)
                }

                let final = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(final.status == 0, "\(final.stderr)")
                #expect(await workspace.finetune("kept")?.checkpoints == [10, 12])
                #expect(await workspace.finetune("kept")?.deletedCheckpoints.contains(step) == true)
                let record = try await store.checkpoints(jobID: jobID)
                #expect(record.filter(\.isLive).map(\.step) == [10, 12])
                let finished = try #require(record.first { $0.step == step })
                #expect(finished.deletedAtMs != nil)
                #expect(finished.deletingAtMs == interrupted?.deletingAtMs, "the deletion's start was rewritten")
                #expect(await workspace.simulator.stats().doubleApplications == 0)
            }
        }
    }
}
