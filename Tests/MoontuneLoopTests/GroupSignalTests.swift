import Foundation
import MoondreamAPI
@testable import MoontuneDataset
import MoontuneDecisions
@testable import MoontuneLoop
import MoontuneStore
import Synchronization
import Testing

/// `train.skip_constant_groups`: the data order's extra attempts, then the real `JobRunner`
/// against the fakes — skips, crashes, lost answers, checkpoints, rewinds and the budget — each
/// ending with the exactly-once check counted in the server's steps. The filter's and the
/// server-step mapping's pure decisions are in `GroupSignalFilterTests` (MoontuneDecisionsTests).
@Suite struct GroupSignalTests {
    // MARK: - The data order's attempts

    @Test func attemptZeroIsTheStepsOwnBatchAndLaterAttemptsChangeNoOtherStep() {
        let order = DataOrder(count: 37, seed: 42, groupsPerStep: 8)
        for step in 1...30 {
            #expect(order.indices(forStep: step, attempt: 0) == order.indices(forStep: step))
            for attempt in 1...3 {
                let drawn = order.indices(forStep: step, attempt: attempt)
                #expect(drawn.count == 8)
                #expect(Set(drawn).count == 8, "no example twice in an attempt when there are enough")
                #expect(drawn.allSatisfy { (0..<37).contains($0) })
                #expect(drawn == DataOrder(count: 37, seed: 42, groupsPerStep: 8).indices(forStep: step, attempt: attempt),
                        "a pure function of (dataset, seed, step, attempt)")
            }
        }
        #expect(order.indices(forStep: 5, attempt: 1) != order.indices(forStep: 5, attempt: 2))
        #expect(order.indices(forStep: 5, attempt: 1) != order.indices(forStep: 6, attempt: 1))
        #expect(order.indices(forStep: 5, attempt: 1) != DataOrder(count: 37, seed: 43, groupsPerStep: 8).indices(forStep: 5, attempt: 1))
        let small = DataOrder(count: 3, seed: 1, groupsPerStep: 8).indices(forStep: 2, attempt: 1)
        #expect(small.count == 8 && small.allSatisfy { (0..<3).contains($0) }, "repeats when the set is smaller than a step")
    }

    // MARK: - The runner

    func skipping(steps: Int = 4, scorer: ScriptedScorer, checkpoint: [String: Any] = ["every_steps": 2],
                  extra: [String: Any] = [:]) throws -> LoopHarness {
        try LoopHarness(steps: steps, train: ["skip_constant_groups": true], checkpoint: checkpoint, scorer: scorer, extra: extra)
    }

    /// Calls of the scorer one attempt takes (2 groups a step in the harness).
    static let perAttempt = 2
    /// Calls a step takes when every attempt is constant.
    static let perSkip = 2 * (1 + GroupSignalFilter.maxExtraAttempts)

    @Test func noConstantGroupReachesTrainStepAndTheStepsBatchIsTheDataOrders() async throws {
        let job = try skipping(scorer: ScriptedScorer(constantIDs: ["t0", "t3", "t5"]))
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        #expect(await job.isExactWithSkips(), "no constant group sent")
        let order = DataOrder(count: 8, seed: 3, groupsPerStep: 2)
        for (k, record) in await job.store.steps where !record.skipped {
            let sent = try JSONDecoder().decode([String].self, from: Data(record.exampleIDs.utf8))
            let attempts = (0...GroupSignalFilter.maxExtraAttempts).map { order.indices(forStep: k, attempt: $0).map { "t\($0)" } }
            let tried = try #require(record.groupsTried)
            let own = attempts[tried / 2 - 1]
            #expect(sent == own.filter { !["t0", "t3", "t5"].contains($0) }, "step \(k) sends its attempt's groups with signal, in order")
            #expect(record.groupsKept == sent.count && record.groupsDropped == tried - sent.count)
        }
        let kept = await job.store.steps.values.compactMap(\.groupsKept).reduce(0, +)
        #expect(job.service.sentRewards.flatMap { $0 }.count == kept, "exactly the kept groups were sent")
        #expect(kept > 0)
    }

    @Test func aJobWhoseGroupsAreAllConstantSkipsEveryStepSendsNothingAndCompletes() async throws {
        let job = try skipping(scorer: ScriptedScorer(constantCalls: 0..<1000))
        defer { job.remove() }
        let outcome = await job.run()
        #expect(outcome == RunOutcome(state: .completed, step: 4, error: nil))
        #expect(job.service.trainCalls == 0)
        #expect(job.service.step == 0)
        #expect(await job.isExactWithSkips())
        #expect(await job.store.steps.values.allSatisfy { $0.skipped && $0.groupsTried == Self.perSkip && $0.groupsKept == 0 })
        #expect(job.service.rolloutCalls == 4 * Self.perSkip)
        #expect(await job.store.liveCheckpoints.isEmpty, "the server has no step to save")
        #expect(await job.store.messages("skipped").first == "step 1 skipped: no group had signal (all rewards equal) in 4 attempts "
            + "of 2 examples; nothing was sent")
    }

    @Test func aSkipThenAnAmbiguousTrainStepIsReconciledInTheServersSteps() async throws {
        let job = try skipping(scorer: ScriptedScorer(constantCalls: 0..<Self.perSkip))
        defer { job.remove() }
        job.service.script(.applyAndLoseAnswer(mayStillBeRunning: true), .loseWithoutApplying(mayStillBeRunning: false))
        #expect(await job.run().state == .completed)
        #expect(await job.isExactWithSkips())
        #expect(await job.store.steps[1]?.skipped == true)
        #expect(await job.store.steps[2]?.reconciled == true)
        #expect(job.service.step == 3)
        #expect(await job.store.messages("reconciled").contains {
            $0 == "the server had applied step 2 although its answer was lost; recorded as applied"
        })
        #expect(await job.store.messages("reconciled").contains { $0.hasPrefix("step 3 did not land on the server") && $0.contains("(its step stays 1)") })
    }

    @Test func aCrashJustBeforeOrJustAfterTheSkipRecordNeitherLosesNorDoublesTheStep() async throws {
        // Before: nothing is recorded, and the next run tries step 1 again from its own batch.
        let before = try skipping(scorer: ScriptedScorer(constantCalls: 0..<(Self.perSkip * 2)))
        defer { before.remove() }
        await before.store.crash(onWrite: { $0 == "recordSkippedStep" })
        #expect(await before.run().state == .failed)
        #expect(await before.store.steps.isEmpty)
        #expect(await before.run().state == .completed)
        #expect(await before.store.steps[1]?.skipped == true, "redone from attempt 0, still without signal")
        let tried = try JSONDecoder().decode([String].self, from: Data((await before.store.steps[1]?.exampleIDs ?? "").utf8))
        let order = DataOrder(count: 8, seed: 3, groupsPerStep: 2)
        #expect(tried == (0...3).flatMap { order.indices(forStep: 1, attempt: $0).map { "t\($0)" } },
                "the same examples, in the same order")
        #expect(await before.isExactWithSkips())

        // After: the skip stands, and the next run goes on with step 2.
        let after = try skipping(scorer: ScriptedScorer(constantCalls: 0..<Self.perSkip))
        defer { after.remove() }
        let seen = Mutex(false)
        await after.store.crash(onWrite: { name in
            seen.withLock { skipped in
                if name == "recordSkippedStep" { skipped = true; return false }
                return skipped
            }
        })
        #expect(await after.run().state == .failed)
        #expect(await after.store.steps[1]?.skipped == true)
        #expect(await after.store.steps.count == 1)
        #expect(await after.run().state == .completed)
        #expect(await after.isExactWithSkips())
        #expect(await after.store.skippedCount == 1, "skipped once, not twice")
        #expect(after.service.step == 3)
    }

    @Test func aCrashWithATrainStepInFlightAfterASkipIsReconciledAtStartUp() async throws {
        let job = try skipping(scorer: ScriptedScorer(constantCalls: 0..<Self.perSkip))
        defer { job.remove() }
        job.service.script(.crash(lands: true))
        #expect(await job.run().state == .failed)
        #expect(await job.store.steps[2]?.state == .intent)
        #expect(await job.run().state == .completed)
        #expect(await job.isExactWithSkips())
        #expect(await job.store.steps[2]?.reconciled == true)
        #expect(await job.store.steps[2]?.groupsTried == 2, "the intent's groups, kept by the reconciliation")
        #expect(job.service.trainCalls == 3, "step 2 is never sent again")
    }

    @Test func checkpointsAfterSkippedStepsCarryTheServersStep() async throws {
        // Step 2 is skipped: the cadence save at 2 is the server's step 1, shared with step 1's.
        let job = try skipping(scorer: ScriptedScorer(constantCalls: Self.perAttempt..<(Self.perAttempt + Self.perSkip)),
                               checkpoint: ["every_steps": 1, "keep_last": 1])
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        #expect(await job.isExactWithSkips())
        let records = await job.store.checkpointRecords
        #expect(records[2]?.serverStep == 1)
        #expect(records[4]?.serverStep == 3 && records[4]?.kind == .final && records[4]?.isLive == true)
        #expect(records[1]?.serverStep == nil, "the same number needs no second one")
        #expect(job.service.checkpointSteps == [2, 3], "the last cadence one (step 3) and the final one")
        #expect(job.service.deletes == [1], "the server's checkpoint 1 deleted once, when the second record standing for it went")
        #expect(records[1]?.isLive == false && records[2]?.isLive == false)
        // A later run finds the server and the record in agreement.
        #expect(await job.run().state == .completed)
        #expect(await !job.store.messages("reconciled").contains { $0.contains("no longer on the server") || $0.contains("found on the server") })
    }

    @Test func aRewindOverSkippedStepsKeepsThemAndReplaysTheRest() async throws {
        let job = try skipping(scorer: ScriptedScorer(constantCalls: Self.perAttempt..<(Self.perAttempt + Self.perSkip)))
        defer { job.remove() }
        job.service.script(.apply, .apply, .applyThenRestore(to: 1))
        let failed = await job.run()
        #expect(failed.state == .failed)
        #expect(failed.error?.contains("at step 1 where moontune expected 3 after its step 4") == true)
        #expect(await job.run(rewindToServer: true).state == .completed)
        #expect(await job.isExactWithSkips(restored: true))
        #expect(await job.store.steps[2]?.skipped == true)
        #expect(await job.store.messages("reconciled").contains {
            $0.hasPrefix("rewound from step 4 to step 2 (the server's step 1, after skipped steps)")
        })
        #expect(job.service.step == 3)
    }

    @Test func theBudgetStopsBeforeAnAttemptItCannotPayForAndALargerOneRedoesTheStep() async throws {
        let job = try skipping(steps: 2, scorer: ScriptedScorer(constantCalls: 0..<1000), extra: ["budget": ["max_rollouts": 10]])
        defer { job.remove() }
        let stopped = await job.run()
        #expect(stopped.state == .stopped)
        #expect(await job.store.steps.isEmpty, "nothing recorded for the step")
        #expect(job.service.rolloutCalls * 2 <= 10, "no attempt started that the budget could not pay for")
        #expect(job.service.rolloutCalls == 4, "two attempts of two groups")
        let larger = try skipping(steps: 2, scorer: ScriptedScorer(), extra: ["budget": ["max_rollouts": 1000]])
        defer { larger.remove() }
        #expect(await job.run(config: larger.config).state == .completed)
        #expect(await job.store.skippedCount == 2)
        #expect(await job.isExactWithSkips())
    }

    @Test func withoutTheSettingConstantGroupsAreSentAsBefore() async throws {
        let job = try LoopHarness(steps: 2, scorer: ScriptedScorer(constantIDs: ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]))
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(job.service.sentRewards.map(\.count) == [2, 2])
        #expect(await job.store.steps.values.allSatisfy { $0.groupsTried == nil && !$0.skipped })
    }
}

extension FakeProgressStore {
    var skippedCount: Int { steps.values.filter(\.skipped).count }
}
