import Foundation
import MoondreamAPI
import MoontuneDecisions
import MoontuneStore
import ServiceLifecycle

extension JobRunner {
    /// Creates the finetune (idempotent by name), loads the record, and checks it against the
    /// server before anything else happens.
    func prepare() async throws {
        guard let job = try await store.job(id: jobID) else { throw JobFailure("job \(jobID) is not in the database") }
        runningBeforeMs = job.runningMs ?? 0
        runStartedMs = job.startedAtMs ?? now
        if let recorded = job.finetuneID {
            finetuneID = recorded
        } else {
            finetuneID = try await context.client.createFinetune(name: context.config.name, rank: context.config.rank)
            try await store.setFinetuneID(jobID: jobID, finetuneID: finetuneID, now: now)
        }
        try await ledger.load()
        context.observer.record(.started(job: context.config.name, finetuneID: finetuneID, resumedAt: progress.lastApplied,
                                         totalSteps: progress.totalSteps, previousState: nil))
        let intent = try await store.pendingIntent(jobID: jobID)
        if let intent {
            // The previous runner ended with this train_step sent, or about to be: it may still be
            // running on the server. Watch the server until it lands or its window is over.
            if let message = machine.startupInDoubtNotice(step: intent.k, sentAtMs: intent.intentAtMs, inDoubtWaitMs: inDoubtWaitMs,
                                                          nowMs: now) {
                context.observer.record(.notice(message))
                try await store.recordEvent(jobID: jobID, kind: "in_doubt", step: intent.k, message: message, dataJSON: nil, now: now)
            }
        }
        try await reconcile(pendingStep: progress.pendingIntent, statistics: nil, sentAtMs: intent?.intentAtMs)
        try await syncCheckpoints()
        try await resumePruning()  // issue 25: a decision the previous runner took but did not act on
    }

    /// Runs a timer the machine decided on: shown (log and `status`) while it runs, ended at once
    /// by a graceful stop (what it waited for stays recorded, and the next run waits out the rest).
    ///
    /// A step in doubt is shown as one wait from the send to the end of its window, however many
    /// reads it takes.
    func run(_ timer: LoopTimer) async throws {
        let wait: APIWait
        switch timer.purpose {
        case let .inDoubt(step, sentAtMs, deadlineMs):
            wait = APIWait(what: "step \(step) in doubt: the server may still apply it", endpoint: "POST /tuning/train_step",
                           since: Date(timeIntervalSince1970: Double(sentAtMs) / 1000),
                           reason: "its outcome is unknown and the server may still be running it", attempt: 0, maxAttempts: 0,
                           nextAttemptAt: Date(timeIntervalSince1970: Double(timer.fireAtMs) / 1000),
                           givesUpAt: Date(timeIntervalSince1970: Double(deadlineMs) / 1000),
                           atTheEnd: "concludes it did not land and runs it again")
        case .finalCheck(let step):
            wait = APIWait(what: "final check for a late landing of step \(step)", endpoint: "POST /tuning/finetunes/:id/checkpoints/save",
                           since: Date(timeIntervalSince1970: Double(now) / 1000),
                           reason: "step \(step) was concluded \"never landed\" by waiting and may still land late; "
                               + "the job is not recorded complete before the server's step is read again",
                           attempt: 0, maxAttempts: 0, nextAttemptAt: Date(timeIntervalSince1970: Double(timer.fireAtMs) / 1000),
                           givesUpAt: Date(timeIntervalSince1970: Double(timer.fireAtMs) / 1000), atTheEnd: "reads the server's step")
        }
        let left = max(0, timer.fireAtMs - now)
        try await context.waits.holding(wait) {
            try await cancelWhenGracefulShutdown { [clock = context.clock] in
                try await clock.sleep(for: .milliseconds(left))
            }
        }
    }

    /// Asks the server for its step — `checkpoints/save` is idempotent and returns it, and gives a
    /// restore point too — and brings the record in line, or stops without guessing.
    ///
    /// While a step is in doubt, the server's step is read again and again (`InDoubtWatch`) until
    /// the step lands or the in-doubt window since it was sent is over.
    ///
    /// - Parameters:
    ///   - pendingStep: the step whose train_step outcome is unknown, if any.
    ///   - statistics: that step's figures, when this run computed them (a lost answer mid-run).
    ///   - sentAtMs: when that step was sent (its intent recorded); nil reads the server once.
    func reconcile(pendingStep: Int?, statistics: StepStatistics?, sentAtMs: Int64? = nil) async throws {
        var watch = pendingStep.map { machine.watch(pendingStep: $0, sentAtMs: sentAtMs, inDoubtWaitMs: inDoubtWaitMs) }
        var serverStep: Int
        while true {
            let checkpoint: Checkpoint?
            (serverStep, checkpoint) = try await currentServerStep()
            if let checkpoint {
                try await recordCheckpoint(checkpoint,
                                           kind: machine.kindForServerCheckpoint(step: machine.recordStep(ofServerCheckpoint: checkpoint.step)))
            }
            guard var current = watch else { break }
            let action = current.decide(serverStep: serverStep, nowMs: now)
            watch = current
            guard case .readAgain(let delay) = action else { break }
            try await run(machine.inDoubtTimer(current, afterMs: delay, sentAtMs: sentAtMs, nowMs: now))
        }
        switch machine.reconciled(pendingStep: pendingStep, serverStep: serverStep, sentAtMs: sentAtMs, nowMs: now) {
        case .none:
            return
        case let .markApplied(step, message):
            try await markApplied(step: step, statistics: statistics, reconciled: true, serverStep: serverStep)
            try await noteReconciled(step: step, message)
            if let statistics { pushes.stepApplied(step: step, statistics: statistics) }
        case let .discardIntent(step, message):
            if let checkAfterMs = machine.lateLandingCheckAfter(sentAtMs: sentAtMs, nowMs: now, trainStepDeadlineMs: trainStepDeadlineMs) {
                // Concluded by waiting, not by an answer: the step may still land late, so the job
                // looks again before it ends (issue 20).
                try await ledger.commit(.concludedNotLanded(step: step, checkAfterMs: checkAfterMs))
            } else {
                try await discardIntent(step: step)
            }
            try await noteReconciled(step: step, message)
        case let .rewind(server, recorded):
            try await rewind(to: server, from: recorded)
        case .fail(let message):
            throw JobFailure(message)
        }
    }

    /// The server's current step, and the checkpoint that the asking saved (none at step 0).
    func currentServerStep() async throws -> (Int, Checkpoint?) {
        do {
            let checkpoint = try await context.client.saveCheckpoint(finetuneID: finetuneID)
            try await store.noteServerStep(jobID: jobID, step: checkpoint.step)
            return (checkpoint.step, checkpoint)
        } catch let error as APIError where error.kind == .notFound {
            // Either the finetune is gone, or it has no step to save yet.
            _ = try await context.client.finetune(id: finetuneID)
            try await store.noteServerStep(jobID: jobID, step: 0)
            return (0, nil)
        }
    }

    /// Moves the record back to step `step`, the record's step of the server's (the same number
    /// unless steps were skipped).
    func rewind(to step: Int, from recorded: Int) async throws {
        let server = progress.serverStep(after: step)
        // Steps 1...lastApplied are all recorded, and the pending intent goes with them.
        let removed = max(0, progress.lastApplied - step) + (progress.pendingIntent.map { $0 > step ? 1 : 0 } ?? 0)
        try await ledger.commit(.rewound(to: step))
        let target = server == step ? "the server's step \(server)" : "step \(step) (the server's step \(server), after skipped steps)"
        try await noteReconciled(step: step, "rewound from step \(recorded) to \(target) (\(removed) step records removed)")
    }

    func noteReconciled(step: Int?, _ message: String) async throws {
        try await store.recordEvent(jobID: jobID, kind: "reconciled", step: step, message: message, dataJSON: nil, now: now)
        context.observer.record(.reconciled(step: step, message: message))
    }

    /// Records checkpoints the server has but the record lacks (a crash between saving and
    /// recording), and marks deleted those the record has but the server no longer lists.
    func syncCheckpoints() async throws {
        let onServer = try await context.client.checkpoints(finetuneID: finetuneID)
        let sync = machine.checkpointsToSync(onServer: onServer)
        for (checkpoint, kind) in sync.record {
            let step = machine.recordStep(ofServerCheckpoint: checkpoint.step)
            try await recordCheckpoint(checkpoint, kind: kind)
            try await noteReconciled(step: step, "recorded checkpoint \(step) found on the server")
        }
        for step in sync.gone {
            try await ledger.commit(.checkpointDeleted(step: step))
            try await noteReconciled(step: step, "checkpoint \(step) is no longer on the server; recorded as deleted")
        }
    }

    /// The final check before the job ends (issue 20): a step was concluded "never landed" by
    /// waiting, so once a late landing of it could have happened (one train_step deadline after
    /// the conclusion), the server's step is read again. A server ahead of the record fails the
    /// job, naming the step; one where the record says clears the check.
    ///
    /// The wait is shown in the log and `status`, and a graceful stop ends it: the check stays
    /// recorded, and the next run does it before it ends.
    func checkLateLanding(step: Int) async throws {
        if let timer = machine.finalCheckTimer(nowMs: now) {
            let message = "final check: step \(step) was concluded \"never landed\" by waiting, so before the job ends moontune "
                + "reads the server's step again in \(spokenSeconds(timer.fireAtMs - now)), once a late landing of it could have happened"
            context.observer.record(.notice(message))
            try await store.recordEvent(jobID: jobID, kind: "final_check", step: step, message: message, dataJSON: nil, now: now)
            try await run(timer)
        }
        let (serverStep, _) = try await stoppable { [self] in try await currentServerStep() }
        if let failure = machine.lateLandingChecked(serverStep: serverStep) {
            throw JobFailure(failure)
        }
        try await ledger.commit(.lateLandingCleared)
        try await noteReconciled(step: step, "final check: the server is at step \(serverStep), as the record says; "
            + "step \(step) did not land late")
    }

    func spokenSeconds(_ ms: Int64) -> String {
        let seconds = Double(ms) / 1000
        return seconds < 120 ? String(format: "%.1f s", seconds) : "\(Int((seconds / 60).rounded())) min"
    }
}
