import MoontuneDecisions
import MoontuneStore

/// The one place a job's progress changes.
///
/// Progress lives in the database, is mirrored in `LoopStateMachine.progress`, and the gatherers
/// wait on the applied step (`AppliedSteps`). The ledger owns all three: `commit` writes a
/// `ProgressFact` in one store transaction, then applies it to the machine, then runs the
/// effects the machine returns (the gatherers' step is set only from them). The runner reads the
/// machine, and changes nothing but through here: `machine` cannot be changed from outside
/// this file.
///
/// `@unchecked Sendable` as `JobRunner` is: only the run's task (or a child it waits for) touches it.
final class ProgressLedger: @unchecked Sendable {
    /// The loop's state and every decision on it; changed only by `commit` and `load`.
    private(set) var machine: LoopStateMachine
    /// The applied step the gatherers wait on: the machine's `rolloutPolicyStep`, published by
    /// the effects.
    let rolloutPolicy = AppliedSteps(applied: 0)
    private let store: any ProgressRecording
    private let jobID: Int64
    private let clock: any LoopClock
    /// `train.skip_constant_groups`: only then are skipped steps and extra groups read.
    private let skipConstantGroups: Bool
    private let groupsPerStep: Int

    init(machine: LoopStateMachine, store: any ProgressRecording, jobID: Int64, clock: any LoopClock, skipConstantGroups: Bool,
         groupsPerStep: Int) {
        self.machine = machine
        self.store = store
        self.jobID = jobID
        self.clock = clock
        self.skipConstantGroups = skipConstantGroups
        self.groupsPerStep = groupsPerStep
    }

    /// Records `fact` (one transaction), then tells the machine, then runs what it returns. A
    /// failed write changes nothing: the machine never runs ahead of the record.
    func commit(_ fact: ProgressFact) async throws {
        try await store.commit(jobID: jobID, fact, now: clock.nowMs())
        try await run(machine.apply(fact))
    }

    /// Reads the record from the store into the machine (at start-up, and after a rewind).
    func load() async throws {
        let snapshot = try await store.progressSnapshot(jobID: jobID, skipConstantGroups: skipConstantGroups,
                                                        groupsPerStep: groupsPerStep)
        try await run(machine.loaded(snapshot))
    }

    /// A 2xx train_step answer: the machine's decision (it counts declines), and the rollouts
    /// of the next step may go out at once when the step was applied.
    func trainAnswered(step: Int, serverStep: Int?, applied: Bool?) -> LoopStateMachine.AnswerAction {
        let action = machine.trainAnswered(step: step, serverStep: serverStep, applied: applied)
        rolloutPolicy.reset(to: machine.rolloutPolicyStep)
        return action
    }

    /// The running time spent so far and the last step's duration (for `budget.max_hours`): an
    /// observation of the clock, not a recorded fact.
    func timeSpent(elapsedMs: Int64, lastStepMs: Int64?) {
        machine.timeSpent(elapsedMs: elapsedMs, lastStepMs: lastStepMs)
    }

    private func run(_ effects: [ProgressEffect]) async throws {
        for effect in effects {
            switch effect {
            case .rolloutPolicy(let step):
                rolloutPolicy.reset(to: step)
            case .reload:
                try await load()
            }
        }
    }
}

extension ProgressRecording {
    /// What the store holds about progress, as the machine loads it.
    func progressSnapshot(jobID: Int64, skipConstantGroups: Bool, groupsPerStep: Int) async throws -> ProgressSnapshot {
        let job = try await job(id: jobID)
        return ProgressSnapshot(
            lastApplied: try await lastAppliedStep(jobID: jobID), pendingIntent: try await pendingIntent(jobID: jobID),
            checkpoints: try await checkpoints(jobID: jobID), evals: try await evals(jobID: jobID),
            skippedSteps: skipConstantGroups ? try await skippedSteps(jobID: jobID) : [],
            extraGroupsTried: skipConstantGroups ? try await extraGroupsTried(jobID: jobID, groupsPerStep: groupsPerStep) : 0,
            lateLandingCheck: job?.lateCheckStep.map { LateLandingCheck(step: $0, afterMs: job?.lateCheckAfterMs ?? 0) })
    }
}
