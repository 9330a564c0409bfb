import MoontuneDomain
import MoontuneStore

/// The training loop's decisions, in the style of async-http-client's
/// `HTTPConnectionPool.StateMachine`: a value that holds what the run recorded, takes events
/// (something was recorded, the server answered) and returns what to do next. It does no I/O, so
/// every situation a crash, a lost answer or a moved server can leave is a unit test.
///
/// Two kinds of members, kept apart on purpose:
/// - decisions (`next`, `trainAnswered`, `trainFailed`, `reconciled`, ...) read the state and
///   return an action; the runner executes it (writes the store, calls the API);
/// - facts (`ProgressFact`) change the state through `apply`, which returns the effects to run.
///   `ProgressLedger.commit` is the only caller: it applies a fact only *after* the store has
///   committed it, so the in-memory state never runs ahead of the record, and a crash at any
///   point leaves a record the next run's state starts from (`loaded`).
///
/// `JobRunner` is the only driver, through its ledger; it holds no state of its own about progress.
package struct LoopStateMachine: Sendable {
    /// What the record says, mirrored.
    package private(set) var progress: RecordedProgress
    /// `train.max_staleness`, at least 0.
    package let maxStaleness: Int
    /// `--rewind-to-server`.
    let rewindToServer: Bool
    /// The job's name, for messages.
    let jobName: String
    /// `train.sft_steps`, for messages.
    let sftSteps: Int
    /// How many times in a row the server declined each step (`applied: false`). Not recorded:
    /// a new run starts counting afresh.
    private(set) var declines: [Int: Int] = [:]
    /// How many times this run moved the record back to the server's step. Rollouts gathered
    /// before a rewind were sampled from a policy the server no longer has, even when its step
    /// number comes round again, so they are never trained on.
    package private(set) var rewinds = 0
    /// A step whose train_step answered "applied", not recorded yet: the next step's rollouts may
    /// go out while it is being recorded. Not recorded, and forgotten at the next fact.
    private var answeredStep: Int?
    /// `train.groups_per_step` and `train.rollouts_per_group`: the rollouts of the groups a step
    /// tried beyond its batch count against the rollout budget.
    let groupsPerStep: Int
    let rolloutsPerGroup: Int

    package init(progress: RecordedProgress, maxStaleness: Int, rewindToServer: Bool, jobName: String, sftSteps: Int = 0,
                 groupsPerStep: Int = 0, rolloutsPerGroup: Int = 0) {
        self.progress = progress
        self.maxStaleness = max(0, maxStaleness)
        self.rewindToServer = rewindToServer
        self.jobName = jobName
        self.sftSteps = sftSteps
        self.groupsPerStep = groupsPerStep
        self.rolloutsPerGroup = rolloutsPerGroup
    }

    /// The step whose policy rollouts may be sampled from: the last applied one, or one answered
    /// applied and being recorded. Derived: the gatherers' copy (`AppliedSteps`) is only ever set
    /// to this, through the `rolloutPolicy` effect.
    package var rolloutPolicyStep: Int { max(progress.lastApplied, answeredStep ?? 0) }

    // MARK: - The next move

    /// The next move, from the record alone (`LoopPlanner`).
    package func next() -> LoopAction { LoopPlanner.next(progress) }

    /// The steps whose rollouts should be gathering while `step` is next: this step, those the
    /// staleness bound lets run ahead while it trains, and one more, whose requests are built
    /// now and sent the moment the policy they need is applied.
    package func gatherSteps(for step: Int) -> ClosedRange<Int> {
        // Never past the job's end (early stop included), nor past what the rollout budget allows.
        let horizon = LoopPlanner.affordableHorizon(progress, upTo: min(LoopPlanner.endStep(progress),
                                                                        progress.lastApplied + 2 + maxStaleness))
        return step...max(step, horizon)
    }

    /// Rollouts sent when the server had applied `appliedAtSend` are stale for `step` when the
    /// record no longer has that policy — a rewind moved it back, either below that step or, for
    /// a gather started before the rewind (`rewindsAtStart`), to a step of the same number
    /// reached again by other updates — or it is more than `maxStaleness` steps old: they are
    /// gathered again.
    package func isStale(step: Int, appliedAtSend: Int, rewindsAtStart: Int) -> Bool {
        rewindsAtStart != rewinds || appliedAtSend > progress.lastApplied || step - 1 - appliedAtSend > maxStaleness
    }

    // MARK: - A train_step's outcome

    /// What to do with a 2xx train_step answer.
    package enum AnswerAction: Sendable, Equatable {
        /// Record the step applied; then, when `failure` is set, stop the job with it (the
        /// server is not where one applied step takes it).
        case recordApplied(failure: String?)
        /// The server declined: drop the intent. `event` is the `declined` event's message and
        /// `notice` the observer's; `failure`, when set, stops the job instead (too many in a row).
        case discardDeclined(serverStep: Int?, event: String?, notice: String?, failure: String?)
    }

    /// Decides on a 2xx answer to step `step`'s train_step (and counts a decline).
    package mutating func trainAnswered(step: Int, serverStep: Int?, applied: Bool?) -> AnswerAction {
        // The server counts only the steps it was sent: skipped steps are not among them.
        let expected = progress.serverStep(after: step)
        switch TrainAnswer.decide(k: expected, step: serverStep, applied: applied) {
        case .declined:
            let count = (declines[step] ?? 0) + 1
            declines[step] = count
            let message = "the server declined step \(step) (applied: false, its step stays "
                + "\(serverStep.map(String.init) ?? "\(expected - 1)")); "
            guard count < maxDeclinesPerStep else {
                return .discardDeclined(serverStep: serverStep, event: nil, notice: nil, failure: message
                    + "declined \(count) times in a row, so moontune stops here. Nothing was applied; "
                    + "run again to retry the step, or see docs/guarantees.md")
            }
            return .discardDeclined(serverStep: serverStep,
                                    event: message + "it runs again with fresh rollouts (\(count) of \(maxDeclinesPerStep))",
                                    notice: message + "it runs again with fresh rollouts", failure: nil)
        case .applied:
            answeredStep = step
            return .recordApplied(failure: nil)
        case let .serverElsewhere(expected, server, _):
            return .recordApplied(failure: serverAheadMessage(step: step, expected: expected, server: server,
                                                              source: "train_step's answer"))
        }
    }

    /// How a train_step failed, as the runner saw it.
    package enum TrainFailure: Sendable, Equatable {
        /// Its outcome is unknown (`APIError.isAmbiguous`); `mayStillBeRunning` when the server
        /// may still be working on it.
        case ambiguous(mayStillBeRunning: Bool)
        /// A graceful stop ended a backoff before it was sent again.
        case stoppedDuringBackoff
        /// Refused, or never delivered: it certainly did not land.
        case refused(RefusalKind)
    }

    /// Why a train_step was refused, as far as the decision needs it (the API client's error kinds
    /// stay in the client: this module does not link it).
    package enum RefusalKind: Sendable, Equatable {
        /// 400: the request was malformed (SFT groups a server does not take, say).
        case badRequest
        /// Another 4xx.
        case otherClientError
        /// 5xx answered by the server for itself.
        case server
        /// Anything else (never delivered, 429, ...).
        case other
    }

    package enum FailureAction: Sendable, Equatable {
        /// Watch the server: until the in-doubt window since sending is over (`window`), or by
        /// asking once.
        case watch(window: Bool)
        /// Drop the intent, then end the run `stopped`.
        case discardThenStop
        /// Drop the intent, then stop the job with this message.
        case discardThenFail(String)
        /// Drop the intent, then fail with the API error.
        case discardThenThrow
    }

    package func trainFailed(step: Int, isSFT: Bool, _ failure: TrainFailure) -> FailureAction {
        switch failure {
        case .ambiguous(let mayStillBeRunning):
            return .watch(window: mayStillBeRunning)
        case .stoppedDuringBackoff:
            return .discardThenStop
        case .refused(let kind):
            if isSFT, kind == .badRequest || kind == .otherClientError {
                return .discardThenFail("The server refused the SFT groups of step \(step) (train.sft_steps = "
                    + "\(sftSteps)): it does not take SFT steps. Nothing was applied; set train.sft_steps "
                    + "to 0 to train this job with RL steps only.")
            }
            return .discardThenThrow
        }
    }

    // MARK: - Reconciliation

    /// What the server's step says, once the watch (if any) is over.
    package enum ReconcileAction: Sendable, Equatable {
        case none
        /// Record the pending step applied (reconciled), with this `reconciled` event.
        case markApplied(step: Int, message: String)
        /// Drop the pending step's intent, with this `reconciled` event.
        case discardIntent(step: Int, message: String)
        /// Remove the steps after the server's, and reload.
        case rewind(to: Int, from: Int)
        /// Stop the job without changing anything.
        case fail(String)
    }

    /// - Parameters:
    ///   - pendingStep: the step in doubt, if any.
    ///   - serverStep: the server's step at the last read.
    ///   - sentAtMs: when the step in doubt was sent, when the watch waited for it.
    package func reconciled(pendingStep: Int?, serverStep: Int, sentAtMs: Int64?, nowMs: Int64) -> ReconcileAction {
        // Compared in the server's steps: the skipped steps of the record were never sent.
        let skipped = progress.lastApplied - progress.serverStep(after: progress.lastApplied)
        switch ReconcileOutcome.decide(lastApplied: progress.lastApplied - skipped, pendingIntent: pendingStep.map { $0 - skipped },
                                       serverStep: serverStep) {
        case .consistent:
            return .none
        case .markApplied:
            let step = pendingStep ?? progress.lastApplied + 1
            return .markApplied(step: step, message: "the server had applied step \(step) although its answer was lost; recorded as applied")
        case .discardIntent:
            let step = pendingStep ?? progress.lastApplied + 1
            let waited = sentAtMs.map { " within \(spokenDuration(ms: max(0, nowMs - $0))) of being sent" } ?? ""
            return .discardIntent(step: step, message: "step \(step) did not land on the server\(waited) (its step stays \(serverStep)); "
                + "it runs again with fresh rollouts of the same examples")
        case .serverBehind(let recorded, let server):
            guard rewindToServer else {
                return .fail("the server's finetune is at step \(server) but the record says \(recorded) steps were applied "
                    + "(was the server restored from an older checkpoint?). Nothing was changed. Run again with "
                    + "--rewind-to-server to continue from step \(server); the same data order makes the replay exact.")
            }
            return .rewind(to: progress.recordStep(forServerStep: server), from: progress.lastApplied)
        case .serverAhead(let recorded, let server) where recorded == 0:
            return .fail("a finetune named \(jobName) already exists on the server with \(server) steps applied, "
                + "but this database has no step of it: it was trained by another job or with another database. "
                + "Give this job another name, or run it with the database that trained it.")
        case .serverAhead(let recorded, let server):
            return .fail("the server's finetune is at step \(server) but the record explains only \(recorded) steps "
                + "(another process training the same finetune?). moontune will not guess; nothing was changed."
                + (lateLandingNote.map { " " + $0 } ?? ""))
        }
    }

    /// The watch over a step in doubt; `sentAtMs` nil reads the server once.
    package func watch(pendingStep: Int, sentAtMs: Int64?, inDoubtWaitMs: Int64) -> InDoubtWatch {
        InDoubtWatch(step: pendingStep, lastApplied: progress.lastApplied, sentAtMs: sentAtMs ?? 0,
                     waitMs: sentAtMs == nil ? 0 : inDoubtWaitMs,
                     skipped: progress.lastApplied - progress.serverStep(after: progress.lastApplied))
    }

    /// The timer to read the server's step again while `watch.step` is in doubt (`InDoubtWatch`'s
    /// `readAgain`).
    package func inDoubtTimer(_ watch: InDoubtWatch, afterMs delay: Int64, sentAtMs: Int64?, nowMs: Int64) -> LoopTimer {
        LoopTimer(.inDoubt(step: watch.step, sentAtMs: sentAtMs ?? nowMs, deadlineMs: watch.deadlineMs), fireAtMs: nowMs + max(0, delay))
    }

    /// The final check's timer (issue 20), when the time it waits for has not come yet.
    package func finalCheckTimer(nowMs: Int64) -> LoopTimer? {
        guard let check = progress.lateLandingCheck, check.afterMs > nowMs else { return nil }
        return LoopTimer(.finalCheck(step: check.step), fireAtMs: check.afterMs)
    }

    /// The step to save before the job stops for its budget or a sweep prunes it, if any.
    package func saveBeforeStop() -> Int? { LoopPlanner.saveBeforeBudgetStop(progress) }

    /// At start-up, the notice for a step the last run sent, when its in-doubt window is not over.
    package func startupInDoubtNotice(step: Int, sentAtMs: Int64, inDoubtWaitMs: Int64, nowMs: Int64) -> String? {
        let left = InDoubtWatch(step: step, lastApplied: progress.lastApplied, sentAtMs: sentAtMs, waitMs: inDoubtWaitMs)
            .remainingMs(nowMs: nowMs)
        guard left > 0 else { return nil }
        return "step \(step) was sent by the last run and is in doubt: waiting up to "
            + "\(spokenDuration(ms: left)) for the server to finish it"
    }

    /// The message when a train_step's outcome is unknown.
    package func ambiguousMessage(step: Int, window: Bool, sentAtMs: Int64, inDoubtWaitMs: Int64, nowMs: Int64, error: String) -> String {
        window
            ? "step \(step) in doubt: waiting up to \(spokenDuration(ms: max(0, sentAtMs + inDoubtWaitMs - nowMs))) "
                + "for the server to finish it (\(error))"
            : "step \(step) in doubt: asking the server whether it was applied (\(error))"
    }

    // MARK: - The final check for a late landing (issue 20)

    /// When a step in doubt that `reconciled` drops was concluded "never landed" by waiting (its
    /// window since sending, `sentAtMs`, is known), the time from which its final check may run:
    /// one train_step deadline after the conclusion. Nil when the server's own answer settled it.
    package func lateLandingCheckAfter(sentAtMs: Int64?, nowMs: Int64, trainStepDeadlineMs: Int64) -> Int64? {
        guard sentAtMs != nil else { return nil }
        return nowMs + max(0, trainStepDeadlineMs)
    }

    /// What the server's step, read at the final check, says: nil when it is the step the record
    /// explains (the check is cleared), else why the job fails.
    package func lateLandingChecked(serverStep: Int) -> String? {
        let expected = progress.serverStep(after: progress.lastApplied)
        guard serverStep != expected else { return nil }
        guard serverStep > expected, let check = progress.lateLandingCheck else {
            return Self.serverElsewhereMessage(step: progress.lastApplied, expected: expected, server: serverStep,
                                               source: "the final check (checkpoints/save)")
        }
        return "step \(check.step) was applied twice: it was concluded \"never landed\" after waiting out its in-doubt window and "
            + "sent again, and it landed late. The server's finetune is at step \(serverStep) where moontune's record explains "
            + "\(expected) (the final check, checkpoints/save). moontune stopped; the job is not complete. Set api.in_doubt_wait_s "
            + "above the longest a train_step can run on the server (its default is twice api.train_step_timeout_s). "
            + "See docs/guarantees.md"
    }

    /// The doubled-step message, naming the step concluded "never landed" by waiting when there is one.
    func serverAheadMessage(step: Int, expected: Int, server: Int, source: String) -> String {
        let message = Self.serverElsewhereMessage(step: step, expected: expected, server: server, source: source)
        guard server > expected, let note = lateLandingNote else { return message }
        return message + ". " + note
    }

    /// Names the step concluded "never landed" by waiting, the likely cause of a server ahead.
    var lateLandingNote: String? {
        progress.lateLandingCheck.map { check in
            "Step \(check.step) was concluded \"never landed\" after waiting out its in-doubt window and sent again: "
                + "it most likely landed late, so step \(check.step) was applied twice"
        }
    }

    // MARK: - Checkpoints

    /// The kind a checkpoint saved at `step` is recorded under when it was saved to learn the
    /// server's step (or found on the server): the cadence's kind if the cadence wants that step,
    /// else `reconcile`.
    package func kindForServerCheckpoint(step: Int) -> CheckpointKind {
        LoopPlanner.checkpointKind(at: step, progress) ?? .reconcile
    }

    /// The record's step of a checkpoint the server saved at its step `serverStep`.
    package func recordStep(ofServerCheckpoint serverStep: Int) -> Int {
        progress.recordStep(forServerStep: serverStep)
    }

    /// A cadence or final save answered with `serverStep`: nil when it is the expected step, else
    /// why the job stops.
    package func checkpointSaved(expected step: Int, serverStep: Int) -> String? {
        let expected = progress.serverStep(after: step)
        guard serverStep != expected else { return nil }
        return serverAheadMessage(step: step, expected: expected, server: serverStep, source: "checkpoints/save")
    }

    /// What the server lists against the record, at start-up: checkpoints to record (a crash
    /// between saving and recording) and those to mark deleted (gone from the server). The
    /// server lists them by its steps; the record keeps them by its own.
    package func checkpointsToSync<C: StepNumbered>(onServer: [C]) -> (record: [(C, CheckpointKind)], gone: [Int]) {
        let serverSteps = Set(onServer.map(\.step))
        let recorded = Set(progress.liveCheckpoints.keys.map(progress.serverStep(ofCheckpoint:)))
        let record = onServer.filter { !recorded.contains($0.step) && $0.step <= progress.serverStep(after: progress.lastApplied) }
            .map { ($0, kindForServerCheckpoint(step: recordStep(ofServerCheckpoint: $0.step))) }
        let gone = progress.liveCheckpoints.keys.sorted().filter { !serverSteps.contains(progress.serverStep(ofCheckpoint: $0)) }
        return (record, gone)
    }

    /// Whether a deletion of `step` must be recorded as started (not already, by an earlier run).
    package func deletionNeedsIntent(step: Int) -> Bool { !progress.deletingCheckpoints.contains(step) }

    /// The server's step to delete for the checkpoint recorded at `step`, or nil when another
    /// live record stands for the same checkpoint on the server (a cadence save at a skipped
    /// step saves what the step before it saved): then only the record goes.
    package func serverDeletion(step: Int) -> Int? {
        let server = progress.serverStep(ofCheckpoint: step)
        let shared = progress.liveCheckpoints.keys.contains { $0 != step && progress.serverStep(ofCheckpoint: $0) == server }
        return shared ? nil : server
    }

    // MARK: - Groups without signal

    /// What to do with an attempt of step `step`'s groups (`train.skip_constant_groups`).
    package enum SignalAction: Sendable, Equatable {
        /// Send these groups of the attempt (their positions, in order).
        case train(kept: [Int])
        /// Gather this attempt of the step.
        case gather(attempt: Int)
        /// Record the step skipped: no group of any attempt had signal.
        case skip
        /// The next attempt would go past the rollout budget: stop at the step boundary.
        case stopForBudget(reason: String)
    }

    package func signalAfter(attempt: Int, constant: [Bool]) -> SignalAction {
        switch GroupSignalFilter.decide(constant: constant, attempt: attempt) {
        case .train(let kept):
            return .train(kept: kept)
        case .skip:
            return .skip
        case .tryAgain(let next):
            if let reason = LoopPlanner.attemptExceedsBudget(progress, attempt: next) { return .stopForBudget(reason: reason) }
            return .gather(attempt: next)
        }
    }

    // MARK: - Facts: what the store has committed

    /// Applies a fact the store has committed (`ProgressLedger.commit` is the only caller), and
    /// returns what the driver must do next.
    package mutating func apply(_ fact: ProgressFact) -> [ProgressEffect] {
        answeredStep = nil
        switch fact {
        case .intentRecorded(let intent):
            intentRecorded(step: intent.step, groupsTried: intent.groups?.groupsTried)
        case let .stepApplied(step, metrics, reconciled):
            stepApplied(step: step, reconciled: reconciled, extraRollouts: extraRollouts(tried: metrics.groupsTried ?? progress.pendingGroupsTried))
        case let .stepSkipped(step, _, figures):
            stepSkipped(step: step, extraRollouts: extraRollouts(tried: figures.groupsTried))
        case .intentDiscarded(let step):
            intentDiscarded(step: step)
        case let .concludedNotLanded(step, checkAfterMs):
            concludedNotLanded(step: step, checkAfterMs: checkAfterMs)
        case .lateLandingCleared:
            lateLandingCleared()
        case .checkpointRecorded(let save):
            checkpointRecorded(step: save.step, kind: save.kind, serverStep: save.serverStep)
        case .deletionStarted(let step):
            deletionStarted(step: step)
        case .checkpointDeleted(let step):
            checkpointDeleted(step: step)
        case let .evalRecorded(eval, _):
            evalRecorded(step: eval.step, rewardMean: eval.rewardMean)
        case .rewound:
            rewound()
            return [.reload]
        }
        return [.rolloutPolicy(step: rolloutPolicyStep)]
    }

    /// The record as the store holds it (at start-up, and after a rewind).
    package mutating func loaded(_ snapshot: ProgressSnapshot) -> [ProgressEffect] {
        answeredStep = nil
        loaded(lastApplied: snapshot.lastApplied, pendingIntent: snapshot.pendingIntent?.k, checkpoints: snapshot.checkpoints,
               evals: snapshot.evals, skippedSteps: snapshot.skippedSteps, extraRollouts: snapshot.extraGroupsTried * rolloutsPerGroup,
               lateLandingCheck: snapshot.lateLandingCheck)
        progress.pendingGroupsTried = snapshot.pendingIntent?.groupsTried
        return [.rolloutPolicy(step: rolloutPolicyStep)]
    }

    /// Rollouts a step that tried `tried` groups generated beyond its own batch.
    func extraRollouts(tried: Int?) -> Int {
        guard let tried else { return 0 }
        return max(0, tried - groupsPerStep) * rolloutsPerGroup
    }

    /// The record as loaded from the store.
    mutating func loaded(lastApplied: Int, pendingIntent: Int?, checkpoints: [CheckpointRecord], evals: [EvalRecord],
                         skippedSteps: [Int] = [], extraRollouts: Int = 0, lateLandingCheck: LateLandingCheck? = nil) {
        progress.lastApplied = lastApplied
        progress.lateLandingCheck = lateLandingCheck
        progress.pendingIntent = pendingIntent
        progress.pendingGroupsTried = nil
        progress.skippedSteps = skippedSteps.sorted()
        progress.extraRollouts = extraRollouts
        progress.checkpointServerSteps = Dictionary(checkpoints.filter(\.isLive).compactMap { record in
            record.serverStep.map { (record.step, $0) }
        }, uniquingKeysWith: { a, _ in a })
        progress.liveCheckpoints = Dictionary(checkpoints.filter(\.isLive).map { ($0.step, $0.kind) }, uniquingKeysWith: { a, _ in a })
        progress.deletingCheckpoints = Set(checkpoints.filter { $0.isLive && $0.deletingAtMs != nil }.map(\.step))
        progress.evalSteps = Set(evals.map(\.step))
        progress.evalRewards = Dictionary(evals.map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a })
    }

    /// The steps after the server's were removed from the record (it is reloaded next).
    mutating func rewound() {
        rewinds += 1
    }

    mutating func intentRecorded(step: Int, groupsTried: Int? = nil) {
        progress.pendingIntent = step
        progress.pendingGroupsTried = groupsTried
    }

    /// Step `step`'s intent was dropped, concluded "never landed" by waiting, and the final check
    /// it calls for recorded (as the store merges them: the first step, the latest time).
    mutating func concludedNotLanded(step: Int, checkAfterMs: Int64) {
        intentDiscarded(step: step)
        let first = progress.lateLandingCheck?.step ?? step
        progress.lateLandingCheck = LateLandingCheck(step: first, afterMs: max(progress.lateLandingCheck?.afterMs ?? 0, checkAfterMs))
    }

    /// The final check found the server where the record says, and was cleared.
    mutating func lateLandingCleared() {
        progress.lateLandingCheck = nil
    }

    mutating func intentDiscarded(step: Int) {
        guard progress.pendingIntent == step else { return }
        progress.pendingIntent = nil
        progress.pendingGroupsTried = nil
    }

    mutating func stepApplied(step: Int, reconciled: Bool, extraRollouts: Int = 0) {
        progress.lastApplied = step
        progress.pendingIntent = nil
        progress.pendingGroupsTried = nil
        progress.extraRollouts += extraRollouts
        if !reconciled { declines[step] = nil }
    }

    /// Step `step` was recorded skipped (nothing was sent).
    mutating func stepSkipped(step: Int, extraRollouts: Int) {
        progress.lastApplied = step
        progress.skippedSteps.append(step)
        progress.extraRollouts += extraRollouts
        declines[step] = nil
    }

    /// Precedence of kinds: a checkpoint recorded under a kind keeps it, except a `reconcile`
    /// one, which a cadence or final save of the same step upgrades.
    mutating func checkpointRecorded(step: Int, kind: CheckpointKind, serverStep: Int? = nil) {
        if let serverStep { progress.checkpointServerSteps[step] = serverStep }
        let previous = progress.liveCheckpoints[step]
        // A reconciliation save takes the cadence's kind; a cadence save at the step where early
        // stop ended the job becomes its final one.
        progress.liveCheckpoints[step] = previous == nil || previous == .reconcile || (previous == .cadence && kind == .final)
            ? kind : previous
    }

    mutating func deletionStarted(step: Int) {
        progress.deletingCheckpoints.insert(step)
    }

    /// Deleted, or found gone from the server.
    mutating func checkpointDeleted(step: Int) {
        progress.deletingCheckpoints.remove(step)
        progress.liveCheckpoints.removeValue(forKey: step)
        progress.checkpointServerSteps.removeValue(forKey: step)
    }

    /// The running time spent so far and the last step's duration (for `budget.max_hours`).
    package mutating func timeSpent(elapsedMs: Int64, lastStepMs: Int64?) {
        progress.elapsedMs = elapsedMs
        if let lastStepMs { progress.lastStepMs = lastStepMs }
    }

    /// Whether the job ends early, at the eval step where early stop fired.
    package var earlyStopped: Bool { LoopPlanner.endStep(progress) < progress.totalSteps }

    mutating func evalRecorded(step: Int, rewardMean: Double) {
        progress.evalSteps.insert(step)
        progress.evalRewards[step] = rewardMean
    }

    // MARK: - Messages

    package static func serverElsewhereMessage(step: Int, expected: Int, server: Int, source: String) -> String {
        if server > expected {
            return "\(source) says the server's finetune is at step \(server) where moontune expected \(expected) after its "
                + "step \(step): a step was applied twice, or another client trains this finetune. moontune stopped at once; "
                + "the job is not complete. See docs/guarantees.md"
        }
        return "\(source) says the server's finetune is at step \(server) where moontune expected \(expected) after its "
            + "step \(step) (was the finetune restored from an older checkpoint?). moontune stopped at once; run again with "
            + "--rewind-to-server to continue from the server's step"
    }
}
