import MoontuneStore
import Testing
@testable import MoontuneDecisions

/// Issue 20: a step concluded "never landed" by waiting is looked for again before the job ends.
@Suite struct LateLandingCheckTests {
    func progress(total: Int = 6, applied: Int, live: [Int: CheckpointKind], check: LateLandingCheck?) -> RecordedProgress {
        var progress = RecordedProgress(totalSteps: total, lastApplied: applied, liveCheckpoints: live, checkpointEvery: 3)
        progress.lateLandingCheck = check
        return progress
    }

    @Test func aJobWithAPendingCheckChecksInsteadOfCompleting() {
        let check = LateLandingCheck(step: 6, afterMs: 42)
        #expect(LoopPlanner.next(progress(applied: 6, live: [3: .cadence, 6: .final], check: nil)) == .complete)
        #expect(LoopPlanner.next(progress(applied: 6, live: [3: .cadence, 6: .final], check: check)) == .checkLateLanding(step: 6, afterMs: 42))
    }

    @Test func theFinalCheckpointIsSavedBeforeTheCheck() {
        let check = LateLandingCheck(step: 6, afterMs: 42)
        #expect(LoopPlanner.next(progress(applied: 6, live: [3: .cadence], check: check)) == .saveCheckpoint(step: 6, kind: .final))
    }

    @Test func aPendingCheckDoesNotHoldTrainingBack() {
        let check = LateLandingCheck(step: 2, afterMs: 42)
        #expect(LoopPlanner.next(progress(applied: 4, live: [3: .cadence], check: check)) == .train(step: 5))
    }

    @Test func aBudgetStopChecksFirst() {
        var start = progress(total: 20, applied: 4, live: [3: .cadence, 4: .cadence], check: LateLandingCheck(step: 4, afterMs: 7))
        start.budget = BudgetRule(maxRollouts: 64, maxMs: nil, rolloutsPerStep: 16, sftSteps: 0, rolloutsPerEval: 0)
        #expect(LoopPlanner.next(start) == .checkLateLanding(step: 4, afterMs: 7))
        start.lateLandingCheck = nil
        guard case .stopForBudget = LoopPlanner.next(start) else { Issue.record("\(LoopPlanner.next(start))"); return }
    }

    @Test func anEarlyStopChecksFirst() {
        var start = progress(total: 20, applied: 4, live: [4: .final], check: LateLandingCheck(step: 3, afterMs: 9))
        start.evalEvery = 2
        start.evalSteps = [0, 2, 4]
        start.evalRewards = [0: 0.5, 2: 0.5, 4: 0.5]
        start.earlyStop = EarlyStopRule(patience: 2, minDelta: 0.01)
        #expect(LoopPlanner.next(start) == .checkLateLanding(step: 3, afterMs: 9))
        start.lateLandingCheck = nil
        #expect(LoopPlanner.next(start) == .complete)
    }

    func machine(applied: Int) -> LoopStateMachine {
        var machine = LoopStateMachine(progress: RecordedProgress(totalSteps: 6, checkpointEvery: 3), maxStaleness: 0,
                                       rewindToServer: false, jobName: "job")
        machine.loaded(lastApplied: applied, pendingIntent: applied + 1, checkpoints: [], evals: [])
        return machine
    }

    @Test func onlyAConclusionByWaitingCallsForACheckOneDeadlineLater() {
        let machine = machine(applied: 5)
        #expect(machine.lateLandingCheckAfter(sentAtMs: 1_000, nowMs: 5_000, trainStepDeadlineMs: 900_000) == 905_000)
        #expect(machine.lateLandingCheckAfter(sentAtMs: nil, nowMs: 5_000, trainStepDeadlineMs: 900_000) == nil,
                "the server's own answer settled it")
    }

    @Test func conclusionsMergeIntoOneCheckNamingTheFirstStepAtTheLatestTime() {
        var machine = machine(applied: 2)
        machine.concludedNotLanded(step: 3, checkAfterMs: 500)
        #expect(machine.progress.pendingIntent == nil)
        machine.concludedNotLanded(step: 5, checkAfterMs: 900)
        #expect(machine.progress.lateLandingCheck == LateLandingCheck(step: 3, afterMs: 900))
        machine.lateLandingCleared()
        #expect(machine.progress.lateLandingCheck == nil)
    }

    @Test func aServerAheadAtTheCheckFailsNamingTheStepAndOneInStepPasses() {
        var machine = machine(applied: 5)
        machine.concludedNotLanded(step: 6, checkAfterMs: 1)
        machine.stepApplied(step: 6, reconciled: false)
        #expect(machine.lateLandingChecked(serverStep: 6) == nil)
        let failure = machine.lateLandingChecked(serverStep: 7) ?? ""
        #expect(failure.hasPrefix("step 6 was applied twice"), "\(failure)")
        #expect(failure.contains("at step 7 where moontune's record explains 6"))
        let behind = machine.lateLandingChecked(serverStep: 4) ?? ""
        #expect(behind.contains("--rewind-to-server"), "\(behind)")
    }

    @Test func aServerAheadMidJobNamesTheStepConcludedByWaiting() {
        var machine = machine(applied: 2)
        machine.concludedNotLanded(step: 3, checkAfterMs: 1)
        machine.stepApplied(step: 3, reconciled: false)
        guard case .recordApplied(let failure?) = machine.trainAnswered(step: 4, serverStep: 5, applied: true) else {
            Issue.record("no failure"); return
        }
        #expect(failure.contains("a step was applied twice"))
        #expect(failure.contains("Step 3 was concluded \"never landed\""), "\(failure)")
    }
}
