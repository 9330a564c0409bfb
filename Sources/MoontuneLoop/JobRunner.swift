import Foundation
import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import ServiceLifecycle

/// Drives one job: rollouts → rewards → train_step with exactly-once steps, checkpoints, eval
/// and reconciliation. Decisions come from `LoopPlanner` and `ReconcileOutcome`; this type does
/// the I/O and keeps the in-memory mirror of what it recorded.
///
/// Graceful stop: between steps nothing new starts; any wait on the API ends at once — rollouts
/// in progress are abandoned (nothing about them was recorded), and preparation, reconciling,
/// checkpoints and evals are cut short (`stoppable`; the next run redoes or reconciles them) —
/// while a train_step in flight is finished and recorded.
///
/// `@unchecked Sendable`: the mutable mirror (`progress`, `finetuneID`) is only ever touched by
/// one task at a time — the run's own, or the child `stoppable` starts while the run's task
/// waits for it.
public final class JobRunner: @unchecked Sendable {
    let context: RunContext
    var progress: RecordedProgress
    var finetuneID = ""
    /// The server's applied step as far as this run knows, which gatherers wait on.
    let serverApplied = AppliedSteps(applied: 0)
    /// How many times in a row the server declined each step (`applied: false`).
    var declines: [Int: Int] = [:]
    /// Step and eval metrics for the finetune's metrics endpoint, sent in the background.
    let pushes: MetricsPushes

    public init(context: RunContext) {
        self.context = context
        let config = context.config
        pushes = MetricsPushes(enabled: config.api.pushMetrics)
        progress = RecordedProgress(totalSteps: config.train.steps, checkpointEvery: config.checkpoint.everySteps,
                                    evalEvery: context.evalDataset == nil ? nil : config.eval?.everySteps,
                                    keepLast: config.checkpoint.keepLast, keepBest: config.checkpoint.keepBest)
    }

    var store: ProgressStore { context.store }
    var jobID: Int64 { context.jobID }
    var now: Int64 { ProgressStore.nowMs() }

    /// Runs until the job is complete, asked to stop, or fails. Never throws: the outcome says
    /// how it ended, and is recorded in the database when the database can still be written.
    public func run() async -> RunOutcome {
        let outcome: RunOutcome
        var stopReason: String?
        let waits = context.waits
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [store, jobID] in
                    var beats = 0
                    while !Task.isCancelled {
                        try await Task.sleep(for: .seconds(1))
                        // A wait on the API reaches the record within a second or so, and at most
                        // once a second however many calls retry.
                        try? await waits.flush(to: store, jobID: jobID)
                        beats += 1
                        if beats % 2 == 0 { try? await store.heartbeat(jobID: jobID, now: ProgressStore.nowMs()) }
                    }
                }
                // Every API call of the run reports its retries to the wait tracker: preparation,
                // reconciling, checkpoints and evals here; a step's own calls through the step's
                // counter, which passes them on.
                try await RetryReporting.$observer.withValue(waits.retryObserver()) {
                    // The heartbeat covers preparation too: creating the finetune or reconciling may
                    // wait out a server that is down, and a graceful stop ends that wait.
                    try await stoppable { [self] in try await prepare() }
                }
                // Metrics pushes are best effort: their retries are not waits of the job.
                group.addTask { [pushes, context, finetuneID] in
                    await pushes.deliver(client: context.client, finetuneID: finetuneID, observer: context.observer,
                                         logger: context.logger)
                }
                try await RetryReporting.$observer.withValue(waits.retryObserver()) {
                    try await loop()
                }
                // The last metrics go out before the run ends, a few seconds at most.
                pushes.finish()
                group.addTask { try? await Task.sleep(for: .seconds(5)) }
                _ = try await group.next()
                group.cancelAll()
            }
            outcome = RunOutcome(state: .completed, step: progress.lastApplied, error: nil)
        } catch is StopRequested {
            outcome = RunOutcome(state: .stopped, step: progress.lastApplied, error: nil)
            stopReason = "signal"
        } catch is CancellationError where Task.isShuttingDownGracefully {
            outcome = RunOutcome(state: .stopped, step: progress.lastApplied, error: nil)
            stopReason = "signal"
        } catch {
            outcome = RunOutcome(state: .failed, step: progress.lastApplied, error: Self.explain(error, config: context.config))
        }
        // The retries counted since the last flush; the wait itself ends with the run.
        try? await waits.flush(to: store, jobID: jobID)
        do {
            try await store.finish(jobID: jobID, state: outcome.state, error: outcome.error, stopReason: stopReason, now: now)
            if let error = outcome.error {
                try await store.recordEvent(jobID: jobID, kind: "error", step: outcome.step, message: error, now: now)
            } else {
                try await store.recordEvent(jobID: jobID, kind: outcome.state.rawValue, step: outcome.step,
                                            message: "\(outcome.state.rawValue) at step \(outcome.step)", now: now)
            }
        } catch {
            context.logger.error("could not record the job's end", metadata: ["error": "\(error)"])
        }
        context.observer.record(.finished(state: outcome.state, step: outcome.step, error: outcome.error))
        return outcome
    }

    // MARK: - The loop

    func loop() async throws {
        let staleness = max(0, context.config.train.maxStaleness)
        serverApplied.reset(to: progress.lastApplied)
        try await withThrowingTaskGroup(of: PreparedStep.self) { rollouts in
            var started: Set<Int> = []
            var ready: [Int: PreparedStep] = [:]
            while true {
                if Task.isShuttingDownGracefully { throw StopRequested() }
                switch LoopPlanner.next(progress) {
                // Between steps, every call may be cut short by a graceful stop: each records
                // its intent or its result atomically, and the next run finishes what is left.
                case .reconcile(let step):
                    try await stoppable { [self] in try await reconcile(pendingStep: step, statistics: nil) }
                    serverApplied.reset(to: progress.lastApplied)
                case .finishDeletion(let step), .deleteCheckpoint(let step):
                    try await stoppable { [self] in try await deleteCheckpoint(step: step) }
                case .saveCheckpoint(let step, let kind):
                    try await stoppable { [self] in try await saveCheckpoint(step: step, kind: kind) }
                case .eval(let step):
                    try await stoppable { [self] in try await runEval(step: step) }
                case .train(let step):
                    // Start this step's rollouts, those of the steps the staleness bound lets run
                    // ahead while this one trains, and one step more, whose requests are built
                    // now and sent the moment the policy they need is applied.
                    let horizon = min(progress.totalSteps, progress.lastApplied + 2 + staleness)
                    for ahead in step...max(step, horizon) where !started.contains(ahead) {
                        started.insert(ahead)
                        let gather = StepGatherer(context: context, finetuneID: finetuneID, step: ahead, maxStaleness: staleness,
                                                  applied: serverApplied)
                        rollouts.addTask { await gather.run() }
                    }
                    while ready[step] == nil {
                        guard let next = try await rollouts.next() else { break }
                        ready[next.step] = next
                    }
                    started.remove(step)
                    guard let prepared = ready.removeValue(forKey: step) else {
                        throw JobFailure("internal: rollouts for step \(step) were never gathered")
                    }
                    // Sampled from a policy the record no longer has (a rewind to the server's
                    // step moved it back): gather them again.
                    if case .success = prepared.groups,
                       prepared.appliedAtSend > progress.lastApplied || step - 1 - prepared.appliedAtSend > staleness {
                        continue
                    }
                    if Task.isShuttingDownGracefully { throw StopRequested() }
                    try await apply(prepared)
                    serverApplied.reset(to: progress.lastApplied)
                case .complete:
                    rollouts.cancelAll()
                    return
                }
            }
        }
    }

    /// Records the intent, sends train_step, and records the step applied — or watches the
    /// server when the outcome is unknown, or drops the intent when the step certainly did not
    /// land (refused, never delivered, declined).
    func apply(_ prepared: PreparedStep) async throws {
        let groups = try prepared.groups.get()
        let step = prepared.step
        let retries = RetryCounter()
        retries.merge(prepared.retries)
        let ids = (try? String(decoding: JSONEncoder().encode(groups.map(\.exampleID)), as: UTF8.self)) ?? "[]"
        let isSFT = context.config.train.isSFTStep(step)
        let lr = context.config.train.lr(atStep: step)
        let sentAtMs = now
        try await store.recordStepIntent(jobID: jobID, k: step, exampleIDs: ids, mode: isSFT ? .sft : .rl, lr: lr, now: sentAtMs)
        progress.pendingIntent = step

        let outcomes = groups.filter { $0.target == nil }.map { GroupOutcome(skill: $0.skill, rewards: $0.rewards, staleness: $0.staleness) }
        let trainGroups = groups.map(\.trainGroup)
        let clock = ContinuousClock()
        let trainStarted = clock.now
        do {
            context.observer.record(.trainStep(inFlight: step))
            defer { context.observer.record(.trainStep(inFlight: nil)) }
            let result = try await RetryReporting.$observer.withValue(retries.observer(forwardingTo: context.observer, waits: context.waits)) {
                try await context.client.trainStep(finetuneID: finetuneID, groups: trainGroups, lr: lr,
                                                   timeout: .milliseconds(Int64(context.config.api.trainStepTimeoutSeconds * 1000)))
            }
            let answer = TrainAnswer.decide(k: step, step: result.step, applied: result.applied)
            if answer == .declined {
                try await decline(step: step, result: result)
                return
            }
            // The next step's rollouts may go out now, while this step is being recorded.
            if case .applied = answer { serverApplied.advance(to: step) }
            let trainMs = (clock.now - trainStarted).milliseconds
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs, trainLatencyMs: trainMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            server: result.numbers)
            try await markApplied(step: step, statistics: statistics, reconciled: false, serverStep: result.step)
            declines[step] = nil
            if retries.total > 0 {
                try await store.recordEvent(jobID: jobID, kind: "retried", step: step,
                                            message: "\(retries.total) retries: \(retries.summary)", now: now)
            }
            if case let .serverElsewhere(expected, server, _) = answer {
                throw JobFailure(Self.serverElsewhereMessage(step: step, expected: expected, server: server, source: "train_step's answer"))
            }
            pushes.stepApplied(step: step, statistics: statistics)
        } catch let error as APIError where error.isAmbiguous {
            // A request the server may still be running is watched until its window since sending
            // is over; a server that answered for itself is asked once.
            let window = error.mayStillBeRunning
            let message = window
                ? "step \(step) in doubt: waiting up to \(spokenDuration(ms: max(0, sentAtMs + Int64(context.inDoubtWait.milliseconds) - now))) "
                    + "for the server to finish it (\(error))"
                : "step \(step) in doubt: asking the server whether it was applied (\(error))"
            context.logger.warning("train_step outcome unknown", metadata: ["step": "\(step)", "error": "\(error)"])
            try await store.recordEvent(jobID: jobID, kind: "ambiguous", step: step, message: message, now: now)
            context.observer.record(.notice(message))
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            reconciled: true)
            // A graceful stop may cut the watch short: the intent stays, and the next run watches
            // out the rest of the window and reconciles.
            try await stoppable { [self] in
                try await reconcile(pendingStep: step, statistics: statistics, sentAtMs: window ? sentAtMs : nil)
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            // A graceful stop ended a backoff (after a 429 or a refused connection): the step
            // certainly did not land, so the record drops the intent, as for a refusal.
            try await store.discardStepIntent(jobID: jobID, k: step)
            progress.pendingIntent = nil
            throw StopRequested()
        } catch let error as APIError {
            // Refused, or never delivered: the step certainly did not land, so the record drops
            // the intent and stays exact.
            try await store.discardStepIntent(jobID: jobID, k: step)
            progress.pendingIntent = nil
            if isSFT, error.kind == .badRequest || error.kind == .otherClientError {
                throw JobFailure("\(error). The server refused the SFT groups of step \(step) (train.sft_steps = "
                    + "\(context.config.train.sftSteps)): it does not take SFT steps. Nothing was applied; set train.sft_steps "
                    + "to 0 to train this job with RL steps only.")
            }
            throw error
        }
    }

    /// The server answered that it did not advance: nothing was applied. The intent goes, and the
    /// step runs again with fresh rollouts of the same examples — a few times, then the job stops.
    func decline(step: Int, result: TrainStepResult) async throws {
        try await store.discardStepIntent(jobID: jobID, k: step)
        progress.pendingIntent = nil
        let count = (declines[step] ?? 0) + 1
        declines[step] = count
        if let server = result.step { try await store.noteServerStep(jobID: jobID, step: server) }
        let message = "the server declined step \(step) (applied: false, its step stays \(result.step.map(String.init) ?? "\(step - 1)")); "
        guard count < maxDeclinesPerStep else {
            throw JobFailure(message + "declined \(count) times in a row, so moontune stops here. Nothing was applied; "
                + "run again to retry the step, or see docs/guarantees.md")
        }
        try await store.recordEvent(jobID: jobID, kind: "declined", step: step,
                                    message: message + "it runs again with fresh rollouts (\(count) of \(maxDeclinesPerStep))", now: now)
        context.observer.record(.notice(message + "it runs again with fresh rollouts"))
    }

    static func serverElsewhereMessage(step: Int, expected: Int, server: Int, source: String) -> String {
        if server > expected {
            return "\(source) says the server's finetune is at step \(server) where moontune expected \(expected) after its "
                + "step \(step): a step was applied twice, or another client trains this finetune. moontune stopped at once; "
                + "the job is not complete. See docs/guarantees.md"
        }
        return "\(source) says the server's finetune is at step \(server) where moontune expected \(expected) after its "
            + "step \(step) (was the finetune restored from an older checkpoint?). moontune stopped at once; run again with "
            + "--rewind-to-server to continue from the server's step"
    }

    /// Runs work between steps that a graceful stop cuts short at once (it is cancelled, and the
    /// run ends `stopped`). Never wraps a train_step.
    func stoppable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await cancelWhenGracefulShutdown(operation)
    }

    func markApplied(step: Int, statistics: StepStatistics?, reconciled: Bool, serverStep: Int? = nil) async throws {
        var metrics = StepMetrics(reconciledFrom: statistics)
        if statistics == nil { metrics.json = nil }
        metrics.serverStep = serverStep
        metrics.train = TrainNumbers(answer: statistics?.server ?? [:])
        try await store.markStepApplied(jobID: jobID, k: step, metrics: metrics, reconciled: reconciled, now: now)
        context.waits.recordedWithStep(metrics.retries)
        progress.lastApplied = step
        progress.pendingIntent = nil
        if let statistics {
            context.observer.record(.stepApplied(step: step, totalSteps: progress.totalSteps, statistics: statistics))
        }
    }

    // MARK: - Checkpoints

    func saveCheckpoint(step: Int, kind: CheckpointKind) async throws {
        let checkpoint = try await context.client.saveCheckpoint(finetuneID: finetuneID)
        try await store.noteServerStep(jobID: jobID, step: checkpoint.step)
        guard checkpoint.step == step else {
            throw JobFailure(Self.serverElsewhereMessage(step: step, expected: step, server: checkpoint.step,
                                                         source: "checkpoints/save"))
        }
        try await recordCheckpoint(checkpoint, kind: kind)
    }

    func recordCheckpoint(_ checkpoint: Checkpoint, kind: CheckpointKind) async throws {
        try await store.recordCheckpoint(jobID: jobID, step: checkpoint.step, checkpointID: checkpoint.checkpointID, kind: kind,
                                         expiresAtMs: checkpoint.expiresAtMs, now: now)
        let previous = progress.liveCheckpoints[checkpoint.step]
        progress.liveCheckpoints[checkpoint.step] = previous == nil || previous == .reconcile ? kind : previous
        context.observer.record(.checkpointSaved(step: checkpoint.step, checkpointID: checkpoint.checkpointID, kind: kind))
    }

    /// Deletes a checkpoint, recording the intent before the call and the result after, so that a
    /// crash in between is finished by the next run rather than guessed.
    func deleteCheckpoint(step: Int) async throws {
        if !progress.deletingCheckpoints.contains(step) {
            try await store.markCheckpointDeleting(jobID: jobID, step: step, now: now)
            progress.deletingCheckpoints.insert(step)
        }
        do {
            try await context.client.deleteCheckpoint(finetuneID: finetuneID, step: step)
        } catch let error as APIError where error.kind == .notFound || error.kind == .gone {
            // Already gone: the earlier attempt landed before a crash or a lost answer.
        }
        try await store.markCheckpointDeleted(jobID: jobID, step: step, now: now)
        progress.deletingCheckpoints.remove(step)
        progress.liveCheckpoints.removeValue(forKey: step)
        context.observer.record(.checkpointDeleted(step: step))
    }
}

extension Duration {
    var milliseconds: Double {
        let parts = components
        return Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
    }
}

extension StepMetrics {
    init(reconciledFrom statistics: StepStatistics?) {
        self.init(rewardMean: statistics?.rewards?.mean, rewardStd: statistics?.rewards?.std,
                  rewardMin: statistics?.rewards?.min, rewardMax: statistics?.rewards?.max,
                  constantGroupFraction: statistics?.constantGroupFraction,
                  rolloutLatencyMs: statistics?.rolloutLatencyMs?.mean, trainLatencyMs: statistics?.trainLatencyMs,
                  wallMs: statistics?.wallMs, retries: statistics?.totalRetries ?? 0, json: statistics?.json())
    }
}
