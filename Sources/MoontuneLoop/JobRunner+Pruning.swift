import Foundation
import MoontuneDecisions
import MoontuneStore

/// Thrown inside the loop when the job's sweep prunes it at a rung (issue 25).
struct Pruned: Error {
    let decision: PruneDecisionRecord
}

extension ProgressRecording {
    /// Issue 25: no sweeps in recorders without them (the loop's fakes).
    public func sweepMembership(jobID: Int64) async throws -> SweepMembership? { nil }
    public func pruneDecisions(jobID: Int64) async throws -> [PruneDecisionRecord] { [] }
    public func decidePruning(jobID: Int64, rung: Int, now: Int64,
                              decide: @escaping @Sendable (PruneCohort, PruneRule) -> PruneVerdict) async throws -> PruneDecisionRecord? { nil }
}

extension JobRunner {
    /// Right after an eval at `step` is recorded: when the job is a pruned sweep's and `step` one
    /// of its rungs, the ASHA decision (`AshaPruning`) on the sweep's evals at the rung, taken
    /// once and recorded with its figures. A job that does not go on stops here, `pruned`.
    func pruneCheck(step: Int) async throws {
        guard step >= 1, let member = try await store.sweepMembership(jobID: jobID), let rule = member.prune,
              rule.rungs.contains(step), member.pruningReleasedAtMs == nil else { return }
        guard let decision = try await store.decidePruning(jobID: jobID, rung: step, now: now, decide: { AshaPruning.decide($0, rule: $1) }) else { return }
        let figures = "\(decision.value.map { String(format: "%.4f", $0) } ?? "no value") ranks \(decision.rank) of \(decision.cohort), "
            + "the top \(decision.kept) go on"
        if decision.goesOn {
            try await store.recordEvent(jobID: jobID, kind: "prune_check", step: step,
                                        message: "sweep \(member.sweep), rung \(step): \(member.metric) \(figures); goes on",
                                        dataJSON: decision.figuresJSON, now: now)
            return
        }
        try await enactPruning(decision, member: member)
    }

    /// At the start of a run (after `prepare`): a pruning decision recorded but not yet acted on
    /// (the previous runner died in between) is acted on now, and a rung whose eval was recorded
    /// without its decision gets it. A job started again by hand was released from pruning
    /// before this (`JobSession`), so it runs on.
    func resumePruning() async throws {
        guard let member = try await store.sweepMembership(jobID: jobID), let rule = member.prune,
              member.pruningReleasedAtMs == nil else { return }
        let decisions = try await store.pruneDecisions(jobID: jobID)
        if let pending = decisions.first(where: { !$0.goesOn && $0.releasedAtMs == nil }) {
            try await enactPruning(pending, member: member)
        }
        let decided = Set(decisions.map(\.rung))
        for rung in rule.rungs where progress.evalSteps.contains(rung) && !decided.contains(rung) {
            try await pruneCheck(step: rung)
        }
    }

    /// Stops the job for a recorded decision: the last applied step is saved (as before a budget
    /// stop) so that its best checkpoint is kept, then the run ends `stopped`, `pruned`.
    func enactPruning(_ decision: PruneDecisionRecord, member: SweepMembership) async throws {
        if let step = machine.saveBeforeStop() {
            try await saveCheckpoint(step: step, kind: .cadence)
        }
        // As before a budget stop or an early stop (issue 20): a step concluded "never landed" by
        // waiting is looked for once more before the job ends.
        if let check = progress.lateLandingCheck {
            try await checkLateLanding(step: check.step)
        }
        let message = "pruned by sweep \(member.sweep) at rung \(decision.rung): \(member.metric) "
            + "\(decision.value.map { String(format: "%.4f", $0) } ?? "-") ranks \(decision.rank) of \(decision.cohort), "
            + "only the top \(decision.kept) go on; stopped at step \(progress.lastApplied), the best checkpoint kept. "
            + "Submit it again to run it on"
        context.observer.record(.notice(message))
        try await store.recordEvent(jobID: jobID, kind: "pruned", step: decision.rung, message: message, dataJSON: decision.figuresJSON,
                                    now: now)
        throw Pruned(decision: decision)
    }
}
