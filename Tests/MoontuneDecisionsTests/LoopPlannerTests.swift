import MoontuneStore
import Testing
@testable import MoontuneDecisions

@Suite struct LoopPlannerTests {
    func progress(_ total: Int = 10, applied: Int = 0, pending: Int? = nil, live: [Int: CheckpointKind] = [:], deleting: Set<Int> = [],
                  evals: Set<Int> = [], every: Int = 5, evalEvery: Int? = nil, keepLast: Int = 0, keepBest: Bool = false,
                  rewards: [Int: Double] = [:]) -> RecordedProgress {
        RecordedProgress(totalSteps: total, lastApplied: applied, pendingIntent: pending, liveCheckpoints: live, deletingCheckpoints: deleting,
                         evalSteps: evals, checkpointEvery: every, evalEvery: evalEvery, keepLast: keepLast, keepBest: keepBest,
                         evalRewards: rewards)
    }

    @Test func aFreshJobTrainsStepOne() {
        #expect(LoopPlanner.next(progress()) == .train(step: 1))
    }

    @Test func aPendingIntentIsReconciledBeforeAnythingElse() {
        #expect(LoopPlanner.next(progress(applied: 4, pending: 5, deleting: [2])) == .reconcile(step: 5))
    }

    @Test func anUnfinishedDeletionIsFinishedNext() {
        #expect(LoopPlanner.next(progress(applied: 5, live: [5: .cadence, 3: .reconcile], deleting: [3])) == .finishDeletion(step: 3))
    }

    @Test func checkpointsFollowTheCadenceAndTheLastStep() {
        #expect(LoopPlanner.next(progress(applied: 5)) == .saveCheckpoint(step: 5, kind: .cadence))
        #expect(LoopPlanner.next(progress(applied: 5, live: [5: .cadence])) == .train(step: 6))
        #expect(LoopPlanner.next(progress(applied: 4)) == .train(step: 5))
        #expect(LoopPlanner.next(progress(applied: 10, live: [5: .cadence])) == .saveCheckpoint(step: 10, kind: .final))
        #expect(LoopPlanner.next(progress(applied: 10, live: [5: .cadence, 10: .final])) == .complete)
        // A reconciliation save that lands on the cadence is saved again under the cadence's kind.
        #expect(LoopPlanner.next(progress(applied: 5, live: [5: .reconcile])) == .saveCheckpoint(step: 5, kind: .cadence))
    }

    @Test func evalRunsAtTheStartOnItsCadenceAndAtTheEnd() {
        #expect(LoopPlanner.next(progress(evalEvery: 4)) == .eval(step: 0))
        #expect(LoopPlanner.next(progress(evals: [0], evalEvery: 4)) == .train(step: 1))
        #expect(LoopPlanner.next(progress(applied: 4, evals: [0], evalEvery: 4)) == .eval(step: 4))
        #expect(LoopPlanner.next(progress(applied: 5, live: [5: .cadence], evals: [0, 4], evalEvery: 4)) == .train(step: 6))
        #expect(LoopPlanner.next(progress(applied: 10, live: [10: .final], evals: [0, 4, 8], evalEvery: 4)) == .eval(step: 10))
        #expect(LoopPlanner.next(progress(applied: 10, live: [10: .final], evals: [0, 4, 8, 10], evalEvery: 4)) == .complete)
    }

    @Test func reconciliationSavesGoOnceSomethingNewerIsSavedButNeverTheLatest() {
        #expect(LoopPlanner.next(progress(applied: 3, live: [3: .reconcile])) == .train(step: 4))
        #expect(LoopPlanner.next(progress(applied: 5, live: [3: .reconcile, 5: .cadence])) == .deleteCheckpoint(step: 3))
        #expect(LoopPlanner.next(progress(applied: 10, live: [3: .reconcile, 7: .reconcile, 10: .final])) == .deleteCheckpoint(step: 3))
    }

    @Test func retentionKeepsTheLastKAndTheBestAndNeverTheLatest() {
        let live: [Int: CheckpointKind] = [1: .cadence, 2: .cadence, 3: .cadence, 4: .cadence]
        #expect(LoopPlanner.deletable(progress(applied: 4, live: live, every: 1, keepLast: 2)) == [1, 2])
        #expect(LoopPlanner.deletable(progress(applied: 4, live: live, every: 1, keepLast: 2, keepBest: true, rewards: [1: 0.9, 2: 0.1, 4: 0.5]))
                == [2])
        #expect(LoopPlanner.deletable(progress(applied: 4, live: live, every: 1, keepLast: 0)) == [])
        // The final checkpoint is not a cadence one and always stays.
        #expect(LoopPlanner.deletable(progress(4, applied: 4, live: [1: .cadence, 2: .cadence, 4: .final], every: 1, keepLast: 1)) == [1])
    }

    /// Walks the planner as the runner would, with every action succeeding, and checks the
    /// checkpoints left: exactly the cadence steps plus the last.
    @Test func aCleanRunLeavesExactlyTheCadenceCheckpointsAndEvals() {
        var state = progress(13, every: 4, evalEvery: 5)
        var trained: [Int] = []
        var guardCount = 0
        loop: while guardCount < 1000 {
            guardCount += 1
            switch LoopPlanner.next(state) {
            case .train(let step): trained.append(step); state.lastApplied = step
            case .saveCheckpoint(let step, let kind): state.liveCheckpoints[step] = kind
            case .eval(let step): state.evalSteps.insert(step)
            case .deleteCheckpoint(let step), .finishDeletion(let step): state.liveCheckpoints.removeValue(forKey: step)
            case .reconcile: Issue.record("no reconcile expected"); break loop
            case .stopForBudget: Issue.record("no budget set"); break loop
            case .checkLateLanding: Issue.record("no step was concluded \"never landed\""); break loop
            case .complete: break loop
            }
        }
        #expect(trained == Array(1...13))
        #expect(Set(state.liveCheckpoints.keys) == [4, 8, 12, 13])
        #expect(state.evalSteps == [0, 5, 10, 13])
    }
}

@Suite struct ReconcileOutcomeTests {
    @Test func aLostAnswerForAStepThatLandedMarksItApplied() {
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: 7, serverStep: 7) == .markApplied(step: 7))
    }

    @Test func aStepThatNeverLandedIsRunAgain() {
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: 7, serverStep: 6) == .discardIntent(step: 7))
        #expect(ReconcileOutcome.decide(lastApplied: 0, pendingIntent: 1, serverStep: 0) == .discardIntent(step: 1))
    }

    @Test func aServerBehindTheRecordIsReportedNotGuessed() {
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: 7, serverStep: 4) == .serverBehind(recorded: 6, server: 4))
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: nil, serverStep: 2) == .serverBehind(recorded: 6, server: 2))
    }

    @Test func aServerAheadOfTheRecordIsAnError() {
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: 7, serverStep: 8) == .serverAhead(recorded: 7, server: 8))
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: nil, serverStep: 7) == .serverAhead(recorded: 6, server: 7))
    }

    @Test func aConsistentServerNeedsNothing() {
        #expect(ReconcileOutcome.decide(lastApplied: 6, pendingIntent: nil, serverStep: 6) == .consistent)
        #expect(ReconcileOutcome.decide(lastApplied: 0, pendingIntent: nil, serverStep: 0) == .consistent)
    }
}

@Suite struct StepStatisticsTests {
    @Test func summarisesRewardsPerSkillAndCountsConstantGroups() {
        let statistics = StepStatistics(groups: [
            GroupOutcome(skill: .point, rewards: [1, 0, 1, 0]),
            GroupOutcome(skill: .point, rewards: [0.5, 0.5, 0.5, 0.5]),
            GroupOutcome(skill: .query, rewards: [1, 1, 1, 1], staleness: 2),
        ], retries: ["http_503": 2, "timeout": 1])
        #expect(statistics.rewards?.count == 12)
        #expect(abs((statistics.rewards?.mean ?? 0) - 8.0 / 12.0) < 1e-12)
        #expect(statistics.rewards?.min == 0)
        #expect(statistics.rewards?.max == 1)
        #expect(statistics.perSkill["point"]?.mean == 0.5)
        #expect(abs((statistics.perSkill["point"]?.std ?? 0) - (0.125).squareRoot()) < 1e-12)
        #expect(statistics.perSkill["query"]?.std == 0)
        #expect(abs(statistics.constantGroupFraction - 2.0 / 3.0) < 1e-12)
        #expect(statistics.totalRetries == 3)
        #expect(statistics.staleness.max == 2)
    }
}
