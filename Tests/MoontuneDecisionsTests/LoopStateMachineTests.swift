import MoondreamAPI
@testable import MoontuneDecisions
import MoontuneStore
import Testing

/// The state machine's decisions, one by one: pure, so no runner is needed.
@Suite struct LoopStateMachineTests {
    func machine(total: Int = 10, applied: Int = 0, staleness: Int = 0, rewind: Bool = false, live: [Int: CheckpointKind] = [:],
                 every: Int = 5) -> LoopStateMachine {
        LoopStateMachine(progress: RecordedProgress(totalSteps: total, lastApplied: applied, liveCheckpoints: live, checkpointEvery: every),
                         maxStaleness: staleness, rewindToServer: rewind, jobName: "j", sftSteps: 2)
    }

    @Test func theGatherHorizonIsTheNextStepPlusStalenessPlusOneNeverPastTheEnd() {
        #expect(machine(applied: 3).gatherSteps(for: 4) == 4...5)
        #expect(machine(applied: 3, staleness: 2).gatherSteps(for: 4) == 4...7)
        #expect(machine(total: 5, applied: 4, staleness: 2).gatherSteps(for: 5) == 5...5)
    }

    @Test func rolloutsAreStaleWhenTooOldOrGatheredBeforeARewind() {
        var machine = machine(applied: 5, staleness: 1)
        #expect(!machine.isStale(step: 6, appliedAtSend: 5, rewindsAtStart: 0))
        #expect(!machine.isStale(step: 6, appliedAtSend: 4, rewindsAtStart: 0))
        #expect(machine.isStale(step: 6, appliedAtSend: 3, rewindsAtStart: 0))
        #expect(machine.isStale(step: 6, appliedAtSend: 6, rewindsAtStart: 0), "a policy the record does not have")
        machine.rewound()
        #expect(machine.isStale(step: 6, appliedAtSend: 5, rewindsAtStart: 0), "gathered before the rewind")
        #expect(!machine.isStale(step: 6, appliedAtSend: 5, rewindsAtStart: 1))
    }

    @Test func anAnswerMeansAppliedDeclinedOrServerElsewhere() {
        var machine = machine(applied: 3)
        #expect(machine.trainAnswered(step: 4, serverStep: 4, applied: true) == .recordApplied(failure: nil))
        #expect(machine.trainAnswered(step: 4, serverStep: nil, applied: nil) == .recordApplied(failure: nil))
        guard case .recordApplied(let failure?) = machine.trainAnswered(step: 4, serverStep: 6, applied: true) else {
            Issue.record("a server ahead is not applied cleanly")
            return
        }
        #expect(failure.contains("a step was applied twice"))
    }

    @Test func declinesAreCountedPerStepAndTheThirdStops() {
        var machine = machine(applied: 3)
        guard case .discardDeclined(_, let event?, _, nil) = machine.trainAnswered(step: 4, serverStep: 3, applied: false) else {
            Issue.record("the first decline does not run again")
            return
        }
        #expect(event.hasSuffix("(1 of 3)"))
        _ = machine.trainAnswered(step: 4, serverStep: 3, applied: false)
        guard case .discardDeclined(_, nil, nil, let failure?) = machine.trainAnswered(step: 4, serverStep: 3, applied: false) else {
            Issue.record("the third decline does not stop")
            return
        }
        #expect(failure.contains("declined 3 times in a row"))
        machine.stepApplied(step: 4, reconciled: false)
        #expect(machine.declines[4] == nil)
    }

    @Test func aFailedTrainStepIsWatchedOrDroppedByWhatTheErrorSays() {
        let machine = machine(applied: 3)
        #expect(machine.trainFailed(step: 4, isSFT: false, .ambiguous(mayStillBeRunning: true)) == .watch(window: true))
        #expect(machine.trainFailed(step: 4, isSFT: false, .ambiguous(mayStillBeRunning: false)) == .watch(window: false))
        #expect(machine.trainFailed(step: 4, isSFT: false, .stoppedDuringBackoff) == .discardThenStop)
        #expect(machine.trainFailed(step: 4, isSFT: false, .refused(.badRequest)) == .discardThenThrow)
        #expect(machine.trainFailed(step: 4, isSFT: true, .refused(.server)) == .discardThenThrow)
        guard case .discardThenFail(let message) = machine.trainFailed(step: 4, isSFT: true, .refused(.badRequest)) else {
            Issue.record("an SFT refusal is not explained")
            return
        }
        #expect(message.contains("(train.sft_steps = 2)"))
    }

    @Test func reconciliationMarksDropsRewindsOrStops() {
        let machine = machine(applied: 3)
        #expect(machine.reconciled(pendingStep: nil, serverStep: 3, sentAtMs: nil, nowMs: 0) == .none)
        #expect(machine.reconciled(pendingStep: 4, serverStep: 4, sentAtMs: nil, nowMs: 0)
            == .markApplied(step: 4, message: "the server had applied step 4 although its answer was lost; recorded as applied"))
        guard case .discardIntent(4, let message) = machine.reconciled(pendingStep: 4, serverStep: 3, sentAtMs: 1_000, nowMs: 31_000) else {
            Issue.record("a step that never landed is not dropped")
            return
        }
        #expect(message.hasPrefix("step 4 did not land on the server within 30 s of being sent (its step stays 3)"))
        guard case .fail = machine.reconciled(pendingStep: nil, serverStep: 1, sentAtMs: nil, nowMs: 0) else {
            Issue.record("a server behind is not refused without --rewind-to-server")
            return
        }
        #expect(self.machine(applied: 3, rewind: true).reconciled(pendingStep: nil, serverStep: 1, sentAtMs: nil, nowMs: 0)
            == .rewind(to: 1, from: 3))
        guard case .fail(let ahead) = machine.reconciled(pendingStep: nil, serverStep: 5, sentAtMs: nil, nowMs: 0) else {
            Issue.record("a server ahead is not refused")
            return
        }
        #expect(ahead.contains("another process training the same finetune?"))
    }

    @Test func aReconcileCheckpointIsUpgradedByTheCadenceButNeverDowngraded() {
        var machine = machine(applied: 5, every: 5)
        #expect(machine.kindForServerCheckpoint(step: 5) == .cadence)
        #expect(machine.kindForServerCheckpoint(step: 3) == .reconcile)
        #expect(machine.kindForServerCheckpoint(step: 10) == .final)
        machine.checkpointRecorded(step: 3, kind: .reconcile)
        machine.checkpointRecorded(step: 3, kind: .cadence)
        #expect(machine.progress.liveCheckpoints[3] == .cadence)
        machine.checkpointRecorded(step: 3, kind: .reconcile)
        #expect(machine.progress.liveCheckpoints[3] == .cadence)
    }

    @Test func startUpSyncRecordsUnrecordedCheckpointsAndForgetsGoneOnes() {
        let machine = machine(applied: 6, live: [2: .reconcile, 5: .cadence], every: 5)
        let sync = machine.checkpointsToSync(onServer: [Checkpoint(checkpointID: "a", finetuneID: "f", step: 5),
                                                        Checkpoint(checkpointID: "b", finetuneID: "f", step: 6),
                                                        Checkpoint(checkpointID: "c", finetuneID: "f", step: 9)])
        #expect(sync.record.map(\.0.step) == [6])
        #expect(sync.record.map(\.1) == [.reconcile])
        #expect(sync.gone == [2])
    }

    @Test func theStartUpNoticeIsShownOnlyWhileTheWindowLasts() {
        let machine = machine(applied: 3)
        #expect(machine.startupInDoubtNotice(step: 4, sentAtMs: 0, inDoubtWaitMs: 30_000, nowMs: 10_000)
            == "step 4 was sent by the last run and is in doubt: waiting up to 20 s for the server to finish it")
        #expect(machine.startupInDoubtNotice(step: 4, sentAtMs: 0, inDoubtWaitMs: 30_000, nowMs: 30_000) == nil)
    }

    @Test func eventsMoveTheRecordOnlyAsCommitted() {
        var machine = machine(applied: 3, live: [5: .cadence])
        machine.intentRecorded(step: 4)
        #expect(machine.next() == .reconcile(step: 4))
        machine.intentDiscarded(step: 4)
        #expect(machine.next() == .train(step: 4))
        machine.intentRecorded(step: 4)
        machine.stepApplied(step: 4, reconciled: false)
        #expect(machine.progress.lastApplied == 4 && machine.progress.pendingIntent == nil)
        #expect(machine.deletionNeedsIntent(step: 5))
        machine.deletionStarted(step: 5)
        #expect(!machine.deletionNeedsIntent(step: 5))
        #expect(machine.next() == .finishDeletion(step: 5))
        machine.checkpointDeleted(step: 5)
        #expect(machine.progress.liveCheckpoints.isEmpty && machine.progress.deletingCheckpoints.isEmpty)
        machine.evalRecorded(step: 4, rewardMean: 0.5)
        #expect(machine.progress.evalSteps == [4] && machine.progress.evalRewards == [4: 0.5])
    }
}
