import MoondreamAPI
@testable import MoontuneDecisions
import MoontuneStore
import Testing

/// `train.skip_constant_groups`: the filter's and the server-step mapping's decisions, pure. The
/// runner's side (skips, crashes, lost answers, checkpoints, rewinds and the budget against the
/// fakes) is in `GroupSignalTests` (MoontuneLoopTests).
@Suite struct GroupSignalFilterTests {
    @Test func theFilterKeepsTheGroupsWithSignalInOrderElseTriesAgainUpToTheBoundThenSkips() {
        #expect(GroupSignalFilter.decide(constant: [true, false, true, false], attempt: 0) == .train(kept: [1, 3]))
        #expect(GroupSignalFilter.decide(constant: [false, false], attempt: 2) == .train(kept: [0, 1]))
        #expect(GroupSignalFilter.decide(constant: [true, true], attempt: 0) == .tryAgain(attempt: 1))
        #expect(GroupSignalFilter.decide(constant: [true, true], attempt: GroupSignalFilter.maxExtraAttempts - 1)
            == .tryAgain(attempt: GroupSignalFilter.maxExtraAttempts))
        #expect(GroupSignalFilter.decide(constant: [true, true], attempt: GroupSignalFilter.maxExtraAttempts) == .skip)
        #expect(GroupOutcome(skill: .point, rewards: [0.5, 0.5]).isConstant)
        #expect(!GroupOutcome(skill: .point, rewards: [0.5, 0.5000001]).isConstant, "exactly equal doubles only")
    }

    func progress(applied: Int, skipped: [Int], total: Int = 10) -> RecordedProgress {
        var progress = RecordedProgress(totalSteps: total, lastApplied: applied, checkpointEvery: 2)
        progress.skippedSteps = skipped
        return progress
    }

    @Test func theServersStepIsTheRecordsLessTheSkippedStepsAndMapsBackToTheLatestSuchStep() {
        let plain = progress(applied: 4, skipped: [])
        #expect((0...6).map(plain.serverStep(after:)) == [0, 1, 2, 3, 4, 5, 6])
        #expect((0...6).map(plain.recordStep(forServerStep:)) == [0, 1, 2, 3, 4, 5, 6], "without skips, the same numbers")
        let skips = progress(applied: 6, skipped: [1, 4, 5])
        #expect((0...6).map(skips.serverStep(after:)) == [0, 0, 1, 2, 2, 2, 3])
        #expect(skips.recordStep(forServerStep: 0) == 1)
        #expect(skips.recordStep(forServerStep: 1) == 2)
        #expect(skips.recordStep(forServerStep: 2) == 5, "the skipped steps after step 3 left the server where it was")
        #expect(skips.recordStep(forServerStep: 3) == 6)
        #expect(skips.recordStep(forServerStep: 4) == 7, "the step in flight")
    }

    func machine(applied: Int, skipped: [Int], rewind: Bool = false, live: [Int: CheckpointKind] = [:]) -> LoopStateMachine {
        var progress = progress(applied: applied, skipped: skipped)
        progress.liveCheckpoints = live
        return LoopStateMachine(progress: progress, maxStaleness: 0, rewindToServer: rewind, jobName: "j")
    }

    @Test func trainAnswersAreCheckedAgainstTheServersStep() {
        var machine = machine(applied: 4, skipped: [2])
        #expect(machine.trainAnswered(step: 5, serverStep: 4, applied: true) == .recordApplied(failure: nil))
        guard case .recordApplied(let failure?) = machine.trainAnswered(step: 5, serverStep: 5, applied: true) else {
            Issue.record("one step ahead of the server's count is not applied cleanly")
            return
        }
        #expect(failure.contains("at step 5 where moontune expected 4 after its step 5"))
        guard case .discardDeclined(_, let event?, _, nil) = machine.trainAnswered(step: 5, serverStep: nil, applied: false) else {
            Issue.record("a decline is not discarded")
            return
        }
        #expect(event.contains("its step stays 3"))
    }

    @Test func reconciliationComparesInTheServersSteps() {
        let machine = machine(applied: 4, skipped: [2], rewind: true)
        #expect(machine.reconciled(pendingStep: 5, serverStep: 4, sentAtMs: nil, nowMs: 0)
            == .markApplied(step: 5, message: "the server had applied step 5 although its answer was lost; recorded as applied"))
        guard case .discardIntent(5, _) = machine.reconciled(pendingStep: 5, serverStep: 3, sentAtMs: nil, nowMs: 0) else {
            Issue.record("a step that did not land is not discarded")
            return
        }
        #expect(machine.reconciled(pendingStep: nil, serverStep: 3, sentAtMs: nil, nowMs: 0) == .none)
        #expect(machine.reconciled(pendingStep: nil, serverStep: 1, sentAtMs: nil, nowMs: 0) == .rewind(to: 2, from: 4),
                "to the latest step the server's step stands for: the skipped step 2 stays")
        guard case .fail = machine.reconciled(pendingStep: nil, serverStep: 4, sentAtMs: nil, nowMs: 0) else {
            Issue.record("a server ahead of the record is not refused")
            return
        }
        var watch = machine.watch(pendingStep: 5, sentAtMs: 0, inDoubtWaitMs: 10_000)
        #expect(watch.decide(serverStep: 3, nowMs: 1_000) == .readAgain(afterMs: 500))
        #expect(watch.decide(serverStep: 4, nowMs: 2_000) == .markApplied)
    }

    @Test func checkpointsAreComparedSyncedAndDeletedByTheServersStep() {
        var machine = machine(applied: 4, skipped: [2], live: [1: .cadence, 2: .cadence, 4: .final])
        #expect(machine.checkpointSaved(expected: 4, serverStep: 3) == nil)
        #expect(machine.checkpointSaved(expected: 4, serverStep: 4)?.contains("expected 3") == true)
        #expect(machine.recordStep(ofServerCheckpoint: 3) == 4)
        let listed = [Checkpoint(checkpointID: "c1", finetuneID: "f", step: 1), Checkpoint(checkpointID: "c3", finetuneID: "f", step: 3)]
        let sync = machine.checkpointsToSync(onServer: listed)
        #expect(sync.record.isEmpty, "records 1, 2 (server 1) and 4 (server 3) are all on the server")
        #expect(sync.gone.isEmpty)
        #expect(machine.serverDeletion(step: 1) == nil, "step 2's record stands for the same server checkpoint")
        machine.checkpointDeleted(step: 1)
        #expect(machine.serverDeletion(step: 2) == 1)
        let gone = machine.checkpointsToSync(onServer: [listed[1]])
        #expect(gone.gone == [2])
    }

    @Test func anAttemptTheBudgetCannotPayForStopsTheStep() {
        var progress = progress(applied: 2, skipped: [])
        progress.budget = BudgetRule(maxRollouts: 40, maxMs: nil, rolloutsPerStep: 8, sftSteps: 0, rolloutsPerEval: 0, attemptsPerStep: 4)
        progress.extraRollouts = 8
        // 2 steps (16) and one extra attempt (8) spent: step 3 may try twice (16 more), not three times.
        #expect(LoopPlanner.attemptExceedsBudget(progress, attempt: 1) == nil)
        #expect(LoopPlanner.attemptExceedsBudget(progress, attempt: 2)?.contains("24 spent") == true)
        #expect(LoopPlanner.rolloutsSpent(progress) == 24)
        // Gathering ahead pays for every attempt the steps before may take.
        #expect(LoopPlanner.affordableHorizon(progress, upTo: 6) == 3)
        progress.budget?.maxRollouts = 24 + 8 * 4 + 8
        #expect(LoopPlanner.affordableHorizon(progress, upTo: 6) == 4)
    }
}
