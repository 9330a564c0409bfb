import Foundation
import Logging
import MoondreamAPI
import MoontuneDecisions
import MoontuneJob
import MoontuneStore
import ServiceLifecycle

/// Drives one job: rollouts → rewards → train_step with exactly-once steps, checkpoints, eval
/// and reconciliation. Every decision comes from `LoopStateMachine` (in MoontuneDecisions; it
/// holds what the run recorded); this type only executes its actions — API calls, and progress
/// facts committed through its `ProgressLedger`, the one place progress changes.
///
/// Graceful stop: between steps nothing new starts; any wait on the API ends at once — rollouts
/// in progress are abandoned (nothing about them was recorded), and preparation, reconciling,
/// checkpoints and evals are cut short (`stoppable`; the next run redoes or reconciles them) —
/// while a train_step in flight is finished and recorded.
///
/// `@unchecked Sendable`: the mutable state (the ledger's, `finetuneID`) is only ever touched by
/// one task at a time — the run's own, or the child `stoppable` starts while the run's task
/// waits for it.
public final class JobRunner: @unchecked Sendable {
    let context: RunContext
    /// Progress: the record, the machine that mirrors it, and the step the gatherers wait on.
    let ledger: ProgressLedger
    var finetuneID = ""
    /// Step and eval metrics for the finetune's metrics endpoint, sent in the background.
    let pushes: MetricsPushes
    /// The job's running time before this run, and when this run started (for `budget.max_hours`).
    var runningBeforeMs: Int64 = 0
    var runStartedMs: Int64 = 0

    public init(context: RunContext) {
        self.context = context
        let config = context.config
        pushes = MetricsPushes(enabled: config.api.pushMetrics)
        var progress = RecordedProgress(totalSteps: config.train.steps, checkpointEvery: config.checkpoint.everySteps,
                                        evalEvery: context.evalDataset == nil ? nil : config.eval?.everySteps,
                                        keepLast: config.checkpoint.keepLast, keepBest: config.checkpoint.keepBest)
        if context.evalDataset != nil, let rule = config.earlyStop {
            progress.earlyStop = EarlyStopRule(patience: rule.patience, minDelta: rule.minDelta)
        }
        if let budget = config.budget, budget.maxRollouts != nil || budget.maxHours != nil {
            let evalUsed = context.evalDataset.map { min(config.eval?.maxExamples ?? 0, $0.count) } ?? 0
            progress.budget = BudgetRule(maxRollouts: budget.maxRollouts, maxMs: budget.maxHours.map { Int64($0 * 3_600_000) },
                                         rolloutsPerStep: config.train.groupsPerStep * config.train.rolloutsPerGroup,
                                         sftSteps: config.train.sftSteps, rolloutsPerEval: evalUsed,
                                         attemptsPerStep: config.train.skipConstantGroups ? 1 + GroupSignalFilter.maxExtraAttempts : 1)
        }
        let machine = LoopStateMachine(progress: progress, maxStaleness: config.train.maxStaleness,
                                       rewindToServer: context.rewindToServer, jobName: config.name, sftSteps: config.train.sftSteps,
                                       groupsPerStep: config.train.groupsPerStep, rolloutsPerGroup: config.train.rolloutsPerGroup)
        ledger = ProgressLedger(machine: machine, store: context.store, jobID: context.jobID, clock: context.clock,
                                skipConstantGroups: config.train.skipConstantGroups, groupsPerStep: config.train.groupsPerStep)
    }

    /// The loop's state and every decision on it (read only: facts change it, through the ledger).
    var machine: LoopStateMachine { ledger.machine }
    /// What the run has recorded, as the machine holds it.
    var progress: RecordedProgress { machine.progress }
    /// The server's applied step as the gatherers wait on it (derived from the machine).
    var serverApplied: AppliedSteps { ledger.rolloutPolicy }
    var store: any ProgressRecording { context.store }
    var jobID: Int64 { context.jobID }
    var now: Int64 { context.clock.nowMs() }
    var inDoubtWaitMs: Int64 { Int64(context.inDoubtWait.milliseconds) }
    var trainStepDeadlineMs: Int64 { Int64(context.config.api.trainStepTimeoutSeconds * 1000) }

    /// Runs until the job is complete, asked to stop, or fails. Never throws: the outcome says
    /// how it ended, and is recorded in the database when the database can still be written.
    public func run() async -> RunOutcome {
        let outcome: RunOutcome
        var stopReason: String?
        let waits = context.waits
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let every = context.heartbeatEvery {
                    group.addTask { [store, jobID, clock = context.clock] in
                        var beats = 0
                        while !Task.isCancelled {
                            try await clock.sleep(for: every)
                            // A wait on the API reaches the record within a second or so, and at most
                            // once a second however many calls retry.
                            try? await waits.flush(to: store, jobID: jobID, now: clock.nowMs())
                            beats += 1
                            if beats % 2 == 0 { try? await store.heartbeat(jobID: jobID, now: clock.nowMs()) }
                        }
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
                group.addTask { [clock = context.clock] in try? await clock.sleep(for: .seconds(5)) }
                _ = try await group.next()
                group.cancelAll()
            }
            outcome = RunOutcome(state: .completed, step: progress.lastApplied, error: nil)
            if machine.earlyStopped { stopReason = "early_stop" }
        } catch let budget as BudgetReached {
            outcome = RunOutcome(state: .stopped, step: progress.lastApplied, error: nil)
            stopReason = "budget"
            context.observer.record(.notice("budget reached: \(budget.reason); stopped at step \(progress.lastApplied), saved. "
                + "Raise the budget and run again to continue"))
            try? await store.recordEvent(jobID: jobID, kind: "budget", step: progress.lastApplied, message: budget.reason,
                                         dataJSON: nil, now: now)
        } catch is Pruned {
            // Issue 25: the job's sweep pruned it at a rung (JobRunner+Pruning.swift).
            outcome = RunOutcome(state: .stopped, step: progress.lastApplied, error: nil)
            stopReason = "pruned"
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
        try? await waits.flush(to: store, jobID: jobID, now: now)
        do {
            try await store.finish(jobID: jobID, state: outcome.state, error: outcome.error, stopReason: stopReason, now: now)
            if let error = outcome.error {
                try await store.recordEvent(jobID: jobID, kind: "error", step: outcome.step, message: error, dataJSON: nil, now: now)
            } else {
                try await store.recordEvent(jobID: jobID, kind: outcome.state.rawValue, step: outcome.step,
                                            message: "\(outcome.state.rawValue) at step \(outcome.step)", dataJSON: nil, now: now)
            }
        } catch {
            context.logger.error("could not record the job's end", metadata: ["error": "\(error)"])
        }
        context.observer.record(.finished(state: outcome.state, step: outcome.step, error: outcome.error))
        return outcome
    }

    // MARK: - The loop

    func loop() async throws {
        let staleness = machine.maxStaleness
        try await withThrowingTaskGroup(of: PreparedStep.self) { rollouts in
            var started: Set<Int> = []
            var ready: [Int: PreparedStep] = [:]
            while true {
                if Task.isShuttingDownGracefully { throw StopRequested() }
                ledger.timeSpent(elapsedMs: runningBeforeMs + max(0, now - runStartedMs), lastStepMs: nil)
                switch machine.next() {
                // Between steps, every call may be cut short by a graceful stop: each records
                // its intent or its result atomically, and the next run finishes what is left.
                case .reconcile(let step):
                    // Its window counts from when it was sent, as at start-up.
                    let sentAtMs = try await store.pendingIntent(jobID: jobID)?.intentAtMs
                    try await stoppable { [self] in try await reconcile(pendingStep: step, statistics: nil, sentAtMs: sentAtMs) }
                case .finishDeletion(let step), .deleteCheckpoint(let step):
                    try await stoppable { [self] in try await deleteCheckpoint(step: step) }
                case .saveCheckpoint(let step, let kind):
                    try await stoppable { [self] in try await saveCheckpoint(step: step, kind: kind) }
                case .eval(let step):
                    try await stoppable { [self] in try await runEval(step: step) }
                case .train(let step):
                    for ahead in machine.gatherSteps(for: step) where !started.contains(ahead) {
                        started.insert(ahead)
                        let gather = StepGatherer(context: context, finetuneID: finetuneID, step: ahead, maxStaleness: staleness,
                                                  applied: serverApplied, rewinds: machine.rewinds)
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
                    if case .success = prepared.groups, machine.isStale(step: step, appliedAtSend: prepared.appliedAtSend,
                                                                          rewindsAtStart: prepared.rewinds) {
                        continue
                    }
                    if Task.isShuttingDownGracefully { throw StopRequested() }
                    guard let kept = try await keepGroupsWithSignal(prepared) else { continue }
                    if Task.isShuttingDownGracefully { throw StopRequested() }
                    try await apply(kept)
                case .checkLateLanding(let step, _):  // its time is the machine's timer (`finalCheckTimer`)
                    rollouts.cancelAll()
                    try await checkLateLanding(step: step)
                case .stopForBudget(let reason):
                    rollouts.cancelAll()
                    throw BudgetReached(reason: reason)
                case .complete:
                    rollouts.cancelAll()
                    if machine.earlyStopped {
                        let message = "early stop: the eval reward has not improved by \(context.config.earlyStop?.minDelta ?? 0) "
                            + "for \(context.config.earlyStop?.patience ?? 0) evals in a row; completed at step \(progress.lastApplied), "
                            + "the best checkpoint kept"
                        context.observer.record(.notice(message))
                        try await store.recordEvent(jobID: jobID, kind: "early_stop", step: progress.lastApplied, message: message,
                                                    dataJSON: nil, now: now)
                    }
                    return
                }
            }
        }
    }

    /// Records the intent, sends train_step, and records the step applied — or watches the
    /// server when the outcome is unknown, or drops the intent when the step certainly did not
    /// land (refused, never delivered, declined). What each outcome means is the machine's call.
    func apply(_ prepared: PreparedStep) async throws {
        let groups = try prepared.groups.get()
        let step = prepared.step
        let retries = RetryCounter()
        retries.merge(prepared.retries)
        let ids = (try? String(decoding: JSONEncoder().encode(groups.map(\.exampleID)), as: UTF8.self)) ?? "[]"
        let isSFT = context.config.train.isSFTStep(step)
        let lr = context.config.train.lr(atStep: step)
        let sentAtMs = now
        let counts = prepared.signal.map { signal in
            var counts = StepFigures()
            (counts.groupsTried, counts.groupsKept, counts.groupsDropped) = (signal.tried, signal.kept, signal.dropped)
            return counts
        }
        try await ledger.commit(.intentRecorded(StepIntent(step: step, exampleIDs: ids, mode: isSFT ? .sft : .rl, lr: lr, groups: counts)))
        try await store.recordGraderScores(jobID: jobID, k: step, means: GraderMeans.of(groups.map(\.graderScores)))

        let outcomes = prepared.tried ?? groups.filter { $0.target == nil }.map(\.outcome)
        let trainGroups = groups.map(\.trainGroup)
        let clock = ContinuousClock()
        let trainStarted = clock.now
        let result: TrainStepResult
        let failure: LoopStateMachine.TrainFailure
        let apiError: APIError?
        do {
            context.observer.record(.trainStep(inFlight: step))
            defer { context.observer.record(.trainStep(inFlight: nil)) }
            result = try await RetryReporting.$observer.withValue(retries.observer(forwardingTo: context.observer, waits: context.waits)) {
                try await context.client.trainStep(finetuneID: finetuneID, groups: trainGroups, lr: lr,
                                                   timeout: .milliseconds(Int64(context.config.api.trainStepTimeoutSeconds * 1000)))
            }
            try await answered(step: step, result: result, prepared: prepared, outcomes: outcomes, retries: retries,
                               trainMs: (clock.now - trainStarted).milliseconds)
            return
        } catch let error as APIError where error.isAmbiguous {
            failure = .ambiguous(mayStillBeRunning: error.mayStillBeRunning)
            apiError = error
        } catch is CancellationError where Task.isShuttingDownGracefully {
            failure = .stoppedDuringBackoff
            apiError = nil
        } catch let error as APIError {
            failure = .refused(LoopStateMachine.RefusalKind(error.kind))
            apiError = error
        }
        switch machine.trainFailed(step: step, isSFT: isSFT, failure) {
        case .watch(let window):
            // A request the server may still be running is watched until its window since sending
            // is over; a server that answered for itself is asked once.
            let error = apiError.map { "\($0)" } ?? ""
            let message = machine.ambiguousMessage(step: step, window: window, sentAtMs: sentAtMs, inDoubtWaitMs: inDoubtWaitMs,
                                                   nowMs: now, error: error)
            context.logger.warning("train_step outcome unknown", metadata: ["step": "\(step)", "error": "\(error)"])
            try await store.recordEvent(jobID: jobID, kind: "ambiguous", step: step, message: message, dataJSON: nil, now: now)
            context.observer.record(.notice(message))
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            reconciled: true, signal: prepared.signal)
            // A graceful stop may cut the watch short: the intent stays, and the next run watches
            // out the rest of the window and reconciles.
            try await stoppable { [self] in
                try await reconcile(pendingStep: step, statistics: statistics, sentAtMs: window ? sentAtMs : nil)
            }
        case .discardThenStop:
            // A graceful stop ended a backoff (after a 429 or a refused connection): the step
            // certainly did not land, so the record drops the intent, as for a refusal.
            try await discardIntent(step: step)
            throw StopRequested()
        case .discardThenFail(let message):
            try await discardIntent(step: step)
            throw JobFailure(apiError.map { "\($0). " + message } ?? message)
        case .discardThenThrow:
            // Refused, or never delivered: the step certainly did not land, so the record drops
            // the intent and stays exact.
            try await discardIntent(step: step)
            if let apiError { throw apiError }
            throw StopRequested()
        }
    }

    /// A 2xx answer to step `step`'s train_step.
    func answered(step: Int, result: TrainStepResult, prepared: PreparedStep, outcomes: [GroupOutcome], retries: RetryCounter,
                  trainMs: Double) async throws {
        // An answer "applied" lets the next step's rollouts go out now, while this step is being recorded.
        switch ledger.trainAnswered(step: step, serverStep: result.step, applied: result.applied) {
        case let .discardDeclined(serverStep, event, notice, failure):
            // The server did not advance: nothing was applied. The intent goes, and the step runs
            // again with fresh rollouts of the same examples — a few times, then the job stops.
            try await discardIntent(step: step)
            if let serverStep { try await store.noteServerStep(jobID: jobID, step: serverStep) }
            if let failure { throw JobFailure(failure) }
            if let event { try await store.recordEvent(jobID: jobID, kind: "declined", step: step, message: event, dataJSON: nil, now: now) }
            if let notice { context.observer.record(.notice(notice)) }
        case .recordApplied(let failure):
            let clock = ContinuousClock()
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs, trainLatencyMs: trainMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            server: result.numbers, signal: prepared.signal)
            try await markApplied(step: step, statistics: statistics, reconciled: false, serverStep: result.step)
            ledger.timeSpent(elapsedMs: runningBeforeMs + max(0, now - runStartedMs), lastStepMs: Int64(statistics.wallMs ?? 0))
            if retries.total > 0 {
                try await store.recordEvent(jobID: jobID, kind: "retried", step: step,
                                            message: "\(retries.total) retries: \(retries.summary)", dataJSON: nil, now: now)
            }
            if let failure { throw JobFailure(failure) }
            pushes.stepApplied(step: step, statistics: statistics)
        }
    }

    func discardIntent(step: Int) async throws {
        try await ledger.commit(.intentDiscarded(step: step))
    }

    /// Runs work between steps that a graceful stop cuts short at once (it is cancelled, and the
    /// run ends `stopped`). Never wraps a train_step.
    func stoppable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await cancelWhenGracefulShutdown(operation)
    }

    func markApplied(step: Int, statistics: StepStatistics?, reconciled: Bool, serverStep: Int? = nil) async throws {
        let metrics = StepMetrics(StepFigures(statistics), serverStep: serverStep, train: TrainNumbers(answer: statistics?.server ?? [:]))
        try await ledger.commit(.stepApplied(step: step, metrics: metrics, reconciled: reconciled))
        context.waits.recordedWithStep(metrics.retries)
        if let statistics {
            context.observer.record(.stepApplied(step: step, totalSteps: progress.totalSteps, statistics: statistics))
        }
    }

    // MARK: - Checkpoints

    func saveCheckpoint(step: Int, kind: CheckpointKind) async throws {
        let checkpoint = try await context.client.saveCheckpoint(finetuneID: finetuneID)
        try await store.noteServerStep(jobID: jobID, step: checkpoint.step)
        if let failure = machine.checkpointSaved(expected: step, serverStep: checkpoint.step) {
            throw JobFailure(failure)
        }
        try await recordCheckpoint(checkpoint, kind: kind)
    }

    /// Records a checkpoint the server saved at its step, under the record's step for it (the
    /// same number unless steps were skipped, when the server's step goes with the record).
    func recordCheckpoint(_ checkpoint: Checkpoint, kind: CheckpointKind) async throws {
        let step = machine.recordStep(ofServerCheckpoint: checkpoint.step)
        let serverStep = step == checkpoint.step ? nil : checkpoint.step
        try await ledger.commit(.checkpointRecorded(CheckpointSave(step: step, checkpointID: checkpoint.checkpointID, kind: kind,
                                                                   expiresAtMs: checkpoint.expiresAtMs, serverStep: serverStep)))
        context.observer.record(.checkpointSaved(step: step, checkpointID: checkpoint.checkpointID, kind: kind))
    }

    /// Deletes a checkpoint, recording the intent before the call and the result after, so that a
    /// crash in between is finished by the next run rather than guessed.
    func deleteCheckpoint(step: Int) async throws {
        if machine.deletionNeedsIntent(step: step) {
            try await ledger.commit(.deletionStarted(step: step))
        }
        // A record that shares its server checkpoint with another live one (saved at a skipped
        // step) goes without deleting what the other still stands for.
        if let serverStep = machine.serverDeletion(step: step) {
            do {
                try await context.client.deleteCheckpoint(finetuneID: finetuneID, step: serverStep)
            } catch let error as APIError where error.kind == .notFound || error.kind == .gone {
                // Already gone: the earlier attempt landed before a crash or a lost answer.
            }
        }
        try await ledger.commit(.checkpointDeleted(step: step))
        context.observer.record(.checkpointDeleted(step: step))
    }
}

extension Duration {
    var milliseconds: Double {
        let parts = components
        return Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
    }
}

extension StepFigures {
    /// The recorded figures of a step's statistics (none, when a reconciliation found a step this
    /// run did not gather).
    init(_ statistics: StepStatistics?) {
        self.init(rewardMean: statistics?.rewards?.mean, rewardStd: statistics?.rewards?.std,
                  rewardMin: statistics?.rewards?.min, rewardMax: statistics?.rewards?.max,
                  constantGroupFraction: statistics?.constantGroupFraction,
                  rolloutLatencyMs: statistics?.rolloutLatencyMs?.mean, trainLatencyMs: statistics?.trainLatencyMs,
                  wallMs: statistics?.wallMs, retries: statistics?.totalRetries ?? 0, metricsJSON: statistics?.json())
        answerLengthMean = statistics?.answerLengthMean
        truncationRate = statistics?.truncationRate
        groupsTried = statistics?.signal?.tried
        groupsKept = statistics?.signal?.kept
        groupsDropped = statistics?.signal?.dropped
    }
}

extension LoopStateMachine.RefusalKind {
    /// The client's error kind, as far as the loop's decisions need it.
    init(_ kind: APIError.Kind) {
        switch kind {
        case .badRequest: self = .badRequest
        case .otherClientError: self = .otherClientError
        case .server: self = .server
        default: self = .other
        }
    }
}
