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

    public init(context: RunContext) {
        self.context = context
        let config = context.config
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
                    try await loop()
                }
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

    /// Records the intent, sends train_step, and records the step applied — or reconciles when
    /// the answer is lost.
    func apply(_ prepared: PreparedStep) async throws {
        let groups = try prepared.groups.get()
        let step = prepared.step
        let retries = RetryCounter()
        retries.merge(prepared.retries)
        let ids = (try? String(decoding: JSONEncoder().encode(groups.map(\.exampleID)), as: UTF8.self)) ?? "[]"
        try await store.recordStepIntent(jobID: jobID, k: step, exampleIDs: ids, now: now)
        progress.pendingIntent = step

        let outcomes = groups.map { GroupOutcome(skill: $0.skill, rewards: $0.rewards, staleness: $0.staleness) }
        let trainGroups = groups.map { TrainGroup(request: $0.request, rollouts: $0.rollouts, rewards: $0.rewards) }
        let clock = ContinuousClock()
        let trainStarted = clock.now
        do {
            context.observer.record(.trainStep(inFlight: step))
            defer { context.observer.record(.trainStep(inFlight: nil)) }
            let result = try await RetryReporting.$observer.withValue(retries.observer(forwardingTo: context.observer, waits: context.waits)) {
                try await context.client.trainStep(finetuneID: finetuneID, groups: trainGroups, lr: context.config.train.lr)
            }
            // The next step's rollouts may go out now, while this step is being recorded.
            serverApplied.advance(to: step)
            let trainMs = (clock.now - trainStarted).milliseconds
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs, trainLatencyMs: trainMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            server: result.numbers)
            try await markApplied(step: step, statistics: statistics, reconciled: false)
            if retries.total > 0 {
                try await store.recordEvent(jobID: jobID, kind: "retried", step: step,
                                            message: "\(retries.total) retries: \(retries.summary)", now: now)
            }
        } catch let error as APIError where error.isAmbiguous {
            context.logger.warning("train_step outcome unknown; reconciling", metadata: ["step": "\(step)", "error": "\(error)"])
            try await store.recordEvent(jobID: jobID, kind: "ambiguous", step: step, message: error.description, now: now)
            if case .transport = error.kind {
                // The request may still be running on the server: let it land before asking.
                try await waitInDoubt(context.inDoubtWait)
            }
            let statistics = StepStatistics(groups: outcomes, rolloutLatenciesMs: prepared.latenciesMs,
                                            wallMs: (clock.now - prepared.startedAt).milliseconds, retries: retries.counts,
                                            reconciled: true)
            // A graceful stop may cut the check short: the intent stays, and the next run reconciles.
            try await stoppable { [self] in try await reconcile(pendingStep: step, statistics: statistics) }
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
            throw error
        }
    }

    /// Runs work between steps that a graceful stop cuts short at once (it is cancelled, and the
    /// run ends `stopped`). Never wraps a train_step.
    func stoppable<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await cancelWhenGracefulShutdown(operation)
    }

    func markApplied(step: Int, statistics: StepStatistics?, reconciled: Bool) async throws {
        var metrics = StepMetrics(reconciledFrom: statistics)
        if statistics == nil { metrics.json = nil }
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
        guard checkpoint.step == step else {
            throw JobFailure("the server saved step \(checkpoint.step) where the record is at step \(step); "
                + "moontune will not guess. Run again to reconcile, or see docs/guarantees.md")
        }
        try await recordCheckpoint(checkpoint, kind: kind)
    }

    func recordCheckpoint(_ checkpoint: Checkpoint, kind: CheckpointKind) async throws {
        try await store.recordCheckpoint(jobID: jobID, step: checkpoint.step, checkpointID: checkpoint.checkpointID, kind: kind, now: now)
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
