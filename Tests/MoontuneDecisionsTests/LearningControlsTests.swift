import Testing
@testable import MoontuneDecisions
@testable import MoontuneStore

/// Budgets and early stop, decided by the planner from the record alone.
@Suite struct LearningControlsTests {
    enum End: Equatable { case complete, budget(String) }

    /// Walks the planner as the runner would, every action succeeding; `evalReward` gives the
    /// eval reward recorded at each eval step.
    func walk(_ start: RecordedProgress, evalReward: (Int) -> Double = { _ in 0.5 },
              onStep: (inout RecordedProgress) -> Void = { _ in }) -> (RecordedProgress, [Int], End) {
        var state = start
        var trained: [Int] = []
        for _ in 0..<10_000 {
            switch LoopPlanner.next(state) {
            case .train(let step):
                trained.append(step)
                state.lastApplied = step
                onStep(&state)
            case .saveCheckpoint(let step, let kind): state.liveCheckpoints[step] = kind
            case .eval(let step):
                state.evalSteps.insert(step)
                state.evalRewards[step] = evalReward(step)
            case .deleteCheckpoint(let step), .finishDeletion(let step): state.liveCheckpoints.removeValue(forKey: step)
            case .reconcile: return (state, trained, .complete)
            case .stopForBudget(let reason): return (state, trained, .budget(reason))
            case .checkLateLanding: state.lateLandingCheck = nil  // the check passes
            case .complete: return (state, trained, .complete)
            }
        }
        Issue.record("the planner never ended")
        return (state, trained, .complete)
    }

    func progress(steps: Int, every: Int = 5, evalEvery: Int? = nil) -> RecordedProgress {
        RecordedProgress(totalSteps: steps, checkpointEvery: every, evalEvery: evalEvery)
    }

    @Test func aRolloutBudgetStopsBeforeTheStepThatWouldExceedItWithTheLastStepSaved() {
        var start = progress(steps: 20)
        // 4 groups × 4 rollouts = 16 a step; 200 allows 12 steps (192), not a 13th (208).
        start.budget = BudgetRule(maxRollouts: 200, maxMs: nil, rolloutsPerStep: 16, sftSteps: 0, rolloutsPerEval: 0)
        let (state, trained, end) = walk(start)
        #expect(trained == Array(1...12))
        guard case .budget(let reason) = end else { Issue.record("no budget stop: \(end)"); return }
        #expect(reason.contains("budget.max_rollouts = 200"))
        #expect(reason.contains("192 spent"))
        #expect(state.liveCheckpoints[12] != nil, "the last applied step is saved before the stop")
        #expect(LoopPlanner.rolloutsSpent(state) <= 200)
    }

    @Test func evalsCountAgainstTheRolloutBudgetAndAnEvalThatWouldExceedItStopsTheJob() {
        var start = progress(steps: 10, every: 5, evalEvery: 5)
        start.budget = BudgetRule(maxRollouts: 100, maxMs: nil, rolloutsPerStep: 10, sftSteps: 0, rolloutsPerEval: 20)
        // Baseline eval 20, steps 1–5 50, eval at 5: 20 → 90; step 6 would make 100: allowed;
        // step 7 would make 110.
        let (_, trained, end) = walk(start)
        #expect(trained == Array(1...6))
        #expect(end != .complete)
    }

    @Test func sftStepsCostNoRollouts() {
        var start = progress(steps: 6)
        start.budget = BudgetRule(maxRollouts: 32, maxMs: nil, rolloutsPerStep: 16, sftSteps: 3, rolloutsPerEval: 0)
        let (_, trained, end) = walk(start)
        #expect(trained == Array(1...5))
        #expect(end != .complete)
    }

    @Test func aLargerBudgetContinuesFromWhereTheSmallerOneStopped() {
        var start = progress(steps: 20)
        start.budget = BudgetRule(maxRollouts: 200, maxMs: nil, rolloutsPerStep: 16, sftSteps: 0, rolloutsPerEval: 0)
        var (state, _, _) = walk(start)
        state.budget?.maxRollouts = 1_000
        let (after, trained, end) = walk(state)
        #expect(trained == Array(13...20))
        #expect(end == .complete)
        #expect(after.liveCheckpoints[20] == .final)
    }

    @Test func theGatherHorizonNeverRunsPastTheBudget() {
        var state = progress(steps: 20)
        state.lastApplied = 10
        state.budget = BudgetRule(maxRollouts: 192, maxMs: nil, rolloutsPerStep: 16, sftSteps: 0, rolloutsPerEval: 0)
        #expect(LoopPlanner.affordableHorizon(state, upTo: 14) == 12)
        state.budget?.maxRollouts = nil
        #expect(LoopPlanner.affordableHorizon(state, upTo: 14) == 14)
    }

    @Test func aTimeBudgetStopsWhenTheNextStepWouldGoPastIt() {
        var state = progress(steps: 10)
        state.lastApplied = 4
        state.liveCheckpoints[4] = .cadence
        state.budget = BudgetRule(maxRollouts: nil, maxMs: 60_000, rolloutsPerStep: 16, sftSteps: 0, rolloutsPerEval: 0)
        state.elapsedMs = 50_000
        state.lastStepMs = 5_000
        #expect(LoopPlanner.next(state) == .train(step: 5))
        state.lastStepMs = 11_000
        guard case .stopForBudget(let reason) = LoopPlanner.next(state) else { Issue.record("no stop"); return }
        #expect(reason.contains("budget.max_hours"))
    }

    @Test func earlyStopFiresAfterPatienceEvalsWithoutImprovement() {
        let rule = EarlyStopRule(patience: 2, minDelta: 0.01)
        #expect(rule.firedAt([0: 0.1, 5: 0.3, 10: 0.305, 15: 0.309]) == 15)
        #expect(rule.firedAt([0: 0.1, 5: 0.3, 10: 0.305, 15: 0.32]) == nil, "0.32 ≥ 0.3 + 0.01 improves")
        #expect(rule.firedAt([0: 0.5]) == nil)
    }

    @Test func anEarlyStoppedJobSavesAFinalCheckpointAtItsEndKeepsTheBestAndCompletes() {
        var start = progress(steps: 40, every: 4, evalEvery: 4)
        start.keepLast = 1
        start.earlyStop = EarlyStopRule(patience: 2, minDelta: 0.01)
        // The eval rises until step 8, then plateaus: patience 2 fires at step 16.
        let rewards = [0: 0.1, 4: 0.3, 8: 0.5, 12: 0.49, 16: 0.495]
        let (state, trained, end) = walk(start, evalReward: { rewards[$0] ?? 0.4 })
        #expect(end == .complete)
        #expect(trained == Array(1...16))
        #expect(state.liveCheckpoints[16] == .final, "saved at its end")
        #expect(state.liveCheckpoints[8] != nil, "the best eval's checkpoint is kept, whatever keep_last says")
        #expect(state.liveCheckpoints[12] == .cadence, "keep_last 1 keeps the last cadence checkpoint")
        #expect(state.liveCheckpoints[4] == nil, "the rest go as keep_last says")
        #expect(LoopPlanner.endStep(state) == 16)
    }
}
