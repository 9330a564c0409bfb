import Foundation
import MoondreamAPI
import MoontuneStore
import ServiceLifecycle

extension JobRunner {
    /// Creates the finetune (idempotent by name), loads the record, and checks it against the
    /// server before anything else happens.
    func prepare() async throws {
        guard let job = try await store.job(id: jobID) else { throw JobFailure("job \(jobID) is not in the database") }
        if let recorded = job.finetuneID {
            finetuneID = recorded
        } else {
            finetuneID = try await context.client.createFinetune(name: context.config.name, rank: context.config.rank)
            try await store.setFinetuneID(jobID: jobID, finetuneID: finetuneID, now: now)
        }
        try await loadProgress()
        context.observer.record(.started(job: context.config.name, finetuneID: finetuneID, resumedAt: progress.lastApplied,
                                         totalSteps: progress.totalSteps, previousState: nil))
        let intent = try await store.pendingIntent(jobID: jobID)
        if let intent {
            // The previous runner ended with this train_step sent, or about to be: it may still be
            // running on the server. Watch the server until it lands or its window is over.
            let left = InDoubtWatch(step: intent.k, lastApplied: progress.lastApplied, sentAtMs: intent.intentAtMs,
                                    waitMs: Int64(context.inDoubtWait.milliseconds)).remainingMs(nowMs: now)
            if left > 0 {
                let message = "step \(intent.k) was sent by the last run and is in doubt: waiting up to "
                    + "\(spokenDuration(ms: left)) for the server to finish it"
                context.observer.record(.notice(message))
                try await store.recordEvent(jobID: jobID, kind: "in_doubt", step: intent.k, message: message, now: now)
            }
        }
        try await reconcile(pendingStep: progress.pendingIntent, statistics: nil, sentAtMs: intent?.intentAtMs)
        try await syncCheckpoints()
    }

    /// Sleeps between reads of the server's step while a train_step is in doubt. A graceful stop
    /// ends the wait at once: the intent stays recorded, and the next run watches out the rest.
    ///
    /// The wait is shown (log and `status`) as one wait from the send to the end of the window,
    /// however many reads it takes.
    func waitInDoubt(_ duration: Duration, step: Int, sentAtMs: Int64, deadlineMs: Int64) async throws {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let wait = APIWait(what: "step \(step) in doubt: the server may still apply it", endpoint: "POST /tuning/train_step",
                           since: Date(timeIntervalSince1970: Double(sentAtMs) / 1000),
                           reason: "its outcome is unknown and the server may still be running it", attempt: 0, maxAttempts: 0,
                           nextAttemptAt: Date().addingTimeInterval(seconds),
                           givesUpAt: Date(timeIntervalSince1970: Double(deadlineMs) / 1000),
                           atTheEnd: "concludes it did not land and runs it again")
        try await context.waits.holding(wait) {
            try await cancelWhenGracefulShutdown {
                try await Task.sleep(for: duration)
            }
        }
    }

    /// Rebuilds the in-memory mirror from the database.
    func loadProgress() async throws {
        progress.lastApplied = try await store.lastAppliedStep(jobID: jobID)
        progress.pendingIntent = try await store.pendingIntent(jobID: jobID)?.k
        let checkpoints = try await store.checkpoints(jobID: jobID)
        progress.liveCheckpoints = Dictionary(checkpoints.filter(\.isLive).map { ($0.step, $0.kind) }, uniquingKeysWith: { a, _ in a })
        progress.deletingCheckpoints = Set(checkpoints.filter { $0.isLive && $0.deletingAtMs != nil }.map(\.step))
        let evals = try await store.evals(jobID: jobID)
        progress.evalSteps = Set(evals.map(\.step))
        progress.evalRewards = Dictionary(evals.map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a })
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
        var watch = pendingStep.map { step in
            InDoubtWatch(step: step, lastApplied: progress.lastApplied, sentAtMs: sentAtMs ?? 0,
                         waitMs: sentAtMs == nil ? 0 : Int64(context.inDoubtWait.milliseconds))
        }
        var serverStep: Int
        while true {
            let checkpoint: Checkpoint?
            (serverStep, checkpoint) = try await currentServerStep()
            if let checkpoint {
                try await recordCheckpoint(checkpoint, kind: LoopPlanner.checkpointKind(at: checkpoint.step, progress) ?? .reconcile)
            }
            guard var current = watch else { break }
            let action = current.decide(serverStep: serverStep, nowMs: now)
            watch = current
            guard case .readAgain(let delay) = action else { break }
            try await waitInDoubt(.milliseconds(delay), step: current.step, sentAtMs: sentAtMs ?? now, deadlineMs: current.deadlineMs)
        }
        let outcome = ReconcileOutcome.decide(lastApplied: progress.lastApplied, pendingIntent: pendingStep, serverStep: serverStep)
        switch outcome {
        case .consistent:
            return
        case .markApplied(let step):
            try await markApplied(step: step, statistics: statistics, reconciled: true, serverStep: serverStep)
            try await noteReconciled(step: step, "the server had applied step \(step) although its answer was lost; recorded as applied")
            if let statistics { pushes.stepApplied(step: step, statistics: statistics) }
        case .discardIntent(let step):
            try await store.discardStepIntent(jobID: jobID, k: step)
            progress.pendingIntent = nil
            let waited = sentAtMs.map { " within \(spokenDuration(ms: max(0, now - $0))) of being sent" } ?? ""
            try await noteReconciled(step: step, "step \(step) did not land on the server\(waited) (its step stays \(serverStep)); "
                + "it runs again with fresh rollouts of the same examples")
        case .serverBehind(let recorded, let server):
            guard context.rewindToServer else {
                throw JobFailure("the server's finetune is at step \(server) but the record says \(recorded) steps were applied "
                    + "(was the server restored from an older checkpoint?). Nothing was changed. Run again with "
                    + "--rewind-to-server to continue from step \(server); the same data order makes the replay exact.")
            }
            try await rewind(to: server, from: recorded)
        case .serverAhead(let recorded, let server) where recorded == 0:
            throw JobFailure("a finetune named \(context.config.name) already exists on the server with \(server) steps applied, "
                + "but this database has no step of it: it was trained by another job or with another database. "
                + "Give this job another name, or run it with the database that trained it.")
        case .serverAhead(let recorded, let server):
            throw JobFailure("the server's finetune is at step \(server) but the record explains only \(recorded) steps "
                + "(another process training the same finetune?). moontune will not guess; nothing was changed.")
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

    func rewind(to server: Int, from recorded: Int) async throws {
        if let pending = progress.pendingIntent {
            try await store.discardStepIntent(jobID: jobID, k: pending)
        }
        let removed = try await store.rewindSteps(jobID: jobID, after: server)
        try await loadProgress()
        try await noteReconciled(step: server, "rewound from step \(recorded) to the server's step \(server) (\(removed) step records removed)")
    }

    func noteReconciled(step: Int?, _ message: String) async throws {
        try await store.recordEvent(jobID: jobID, kind: "reconciled", step: step, message: message, now: now)
        context.observer.record(.reconciled(step: step, message: message))
    }

    /// Records checkpoints the server has but the record lacks (a crash between saving and
    /// recording), and marks deleted those the record has but the server no longer lists.
    func syncCheckpoints() async throws {
        let onServer = try await context.client.allCheckpoints(finetuneID: finetuneID).collect()
        let serverSteps = Set(onServer.map(\.step))
        for checkpoint in onServer where progress.liveCheckpoints[checkpoint.step] == nil && checkpoint.step <= progress.lastApplied {
            try await recordCheckpoint(checkpoint, kind: LoopPlanner.checkpointKind(at: checkpoint.step, progress) ?? .reconcile)
            try await noteReconciled(step: checkpoint.step, "recorded checkpoint \(checkpoint.step) found on the server")
        }
        for step in progress.liveCheckpoints.keys.sorted() where !serverSteps.contains(step) {
            try await store.markCheckpointDeleted(jobID: jobID, step: step, now: now)
            progress.liveCheckpoints.removeValue(forKey: step)
            progress.deletingCheckpoints.remove(step)
            try await noteReconciled(step: step, "checkpoint \(step) is no longer on the server; recorded as deleted")
        }
    }
}
