import Foundation
import MoontuneDecisions
import MoontuneStore

extension JobRunner {
    /// `train.skip_constant_groups`: the step with only its groups that have signal — after more
    /// attempts when its own batch has none — or nil once the step is recorded skipped. Without
    /// the setting, for an SFT step, or when the rollouts could not be had, the step as gathered.
    /// Each decision is the machine's (`signalAfter`); this only gathers and records.
    func keepGroupsWithSignal(_ first: PreparedStep) async throws -> PreparedStep? {
        let step = first.step
        guard context.config.train.skipConstantGroups, !context.config.train.isSFTStep(step), case .success = first.groups else {
            return first
        }
        var attempts = [first]
        while true {
            let current = attempts[attempts.count - 1]
            // Rollouts that could not be had fail the step as they would without the setting.
            guard case .success(let groups) = current.groups else { return current }
            switch machine.signalAfter(attempt: attempts.count - 1, constant: groups.map(\.outcome.isConstant)) {
            case .train(let kept):
                return Self.combined(attempts, keeping: kept.map { groups[$0] }, skipped: false)
            case .gather(let attempt):
                let gather = StepGatherer(context: context, finetuneID: finetuneID, step: step, maxStaleness: machine.maxStaleness,
                                          applied: serverApplied, rewinds: machine.rewinds, attempt: attempt)
                attempts.append(await gather.run())
            case .skip:
                try await recordSkipped(Self.combined(attempts, keeping: [], skipped: true))
                return nil
            case .stopForBudget(let reason):
                // The last applied step is saved first, as at any budget stop.
                if let saved = machine.saveBeforeStop() {
                    try await stoppable { [self] in try await saveCheckpoint(step: saved, kind: .cadence) }
                }
                throw BudgetReached(reason: reason)
            }
        }
    }

    /// The step as sent: the kept groups, with the figures of every group tried.
    static func combined(_ attempts: [PreparedStep], keeping kept: [PreparedGroup], skipped: Bool) -> PreparedStep {
        var result = attempts[attempts.count - 1]
        let all = attempts.flatMap { (try? $0.groups.get()) ?? [] }
        result.groups = .success(kept)
        result.startedAt = attempts[0].startedAt
        result.latenciesMs = attempts.flatMap(\.latenciesMs)
        result.retries = attempts.map(\.retries).reduce(into: [:]) { $0.merge($1, uniquingKeysWith: +) }
        result.tried = all.map(\.outcome)
        result.triedIDs = all.map(\.exampleID)
        result.signal = GroupSignal(tried: all.count, kept: kept.count, dropped: all.count - kept.count, attempts: attempts.count,
                                    skipped: skipped)
        return result
    }

    /// Records a step without signal skipped, in one write (nothing was sent, so there is no
    /// intent to reconcile: a crash before the write redoes the step, one after it moves on).
    func recordSkipped(_ prepared: PreparedStep) async throws {
        let step = prepared.step
        let statistics = StepStatistics(groups: prepared.tried ?? [], rolloutLatenciesMs: prepared.latenciesMs,
                                        wallMs: (ContinuousClock.now - prepared.startedAt).milliseconds, retries: prepared.retries,
                                        signal: prepared.signal)
        let ids = (try? String(decoding: JSONEncoder().encode(prepared.triedIDs), as: UTF8.self)) ?? "[]"
        try await ledger.commit(.stepSkipped(step: step, exampleIDs: ids, figures: StepFigures(statistics)))
        context.waits.recordedWithStep(statistics.totalRetries)
        ledger.timeSpent(elapsedMs: runningBeforeMs + max(0, now - runStartedMs), lastStepMs: Int64(statistics.wallMs ?? 0))
        let attempts = prepared.signal?.attempts ?? 1
        let message = "step \(step) skipped: no group had signal (all rewards equal) in \(attempts) attempt\(attempts == 1 ? "" : "s") "
            + "of \(context.config.train.groupsPerStep) examples; nothing was sent"
        try await store.recordEvent(jobID: jobID, kind: "skipped", step: step, message: message, dataJSON: nil, now: now)
        context.observer.record(.stepApplied(step: step, totalSteps: progress.totalSteps, statistics: statistics))
    }
}
