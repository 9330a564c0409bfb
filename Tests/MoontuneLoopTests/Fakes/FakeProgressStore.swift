import Foundation
@testable import MoontuneLoop
@testable import MoontuneStore

/// The process died here: every later write and read of that run fails.
struct SimulatedCrash: Error, CustomStringConvertible {
    var description: String { "simulated crash" }
}

/// The store in memory, with the live store's meaning for every write (each atomic), and a
/// crash: after `crash()` (or when `crashOnWrite` says so, instead of that write) nothing more is
/// committed, and `restart()` gives the next run exactly what was committed before.
actor FakeProgressStore: ProgressRecording, ProgressFactWriting {
    let jobID: Int64 = 1
    private(set) var job: JobRecord
    private(set) var steps: [Int: StepRecord] = [:]
    private(set) var checkpointRecords: [Int: CheckpointRecord] = [:]
    private(set) var evalRecords: [Int: EvalRecord] = [:]
    /// Each eval's example rows, by eval step; written in the same write as the eval.
    private(set) var evalExampleRecords: [Int: [EvalExampleRecord]] = [:]
    private(set) var events: [EventRecord] = []
    private(set) var serverStep: Int?
    private(set) var crashed = false
    private(set) var finished: (state: JobState, error: String?)?
    /// Crash instead of committing the first write this returns true for (by method name).
    private var crashOnWrite: (@Sendable (String) -> Bool)?

    init(name: String = "job", totalSteps: Int) {
        var job = JobRecord(name: name, configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}", baseURL: "http://fake",
                            apiKeyEnv: "K", totalSteps: totalSteps, now: 0)
        job.id = 1
        job.state = .running
        self.job = job
    }

    func crash() { crashed = true }
    func crash(onWrite predicate: @escaping @Sendable (String) -> Bool) { crashOnWrite = predicate }
    /// The next run: what was committed, and no crash (a pending `crash(onWrite:)` still fires).
    func restart() {
        crashed = false
        finished = nil
    }

    // MARK: - What the tests read

    var appliedSteps: [Int] { steps.values.filter { $0.state == .applied }.map(\.k).sorted() }
    var eventKinds: [String] { events.map(\.kind) }
    func messages(_ kind: String) -> [String] { events.filter { $0.kind == kind }.map(\.message) }
    var liveCheckpoints: [Int: CheckpointKind] {
        Dictionary(uniqueKeysWithValues: checkpointRecords.values.filter(\.isLive).map { ($0.step, $0.kind) })
    }
    func setFingerprintForTest(_ json: String) { job.fingerprintJSON = json }

    // MARK: - ProgressRecording

    private func read() throws {
        if crashed { throw SimulatedCrash() }
    }

    private func write(_ name: String) throws {
        if crashed { throw SimulatedCrash() }
        if let crashOnWrite, crashOnWrite(name) {
            self.crashOnWrite = nil
            crashed = true
            throw SimulatedCrash()
        }
    }

    func job(id: Int64) async throws -> JobRecord? {
        try read()
        return id == jobID ? job : nil
    }

    func setFinetuneID(jobID: Int64, finetuneID: String, now: Int64) async throws {
        try write("setFinetuneID")
        job.finetuneID = finetuneID
    }

    func lastAppliedStep(jobID: Int64) async throws -> Int {
        try read()
        return appliedSteps.last ?? 0
    }

    func pendingIntent(jobID: Int64) async throws -> StepRecord? {
        try read()
        return steps.values.first { $0.state == .intent }
    }

    func checkpoints(jobID: Int64) async throws -> [CheckpointRecord] {
        try read()
        return checkpointRecords.values.sorted { $0.step < $1.step }
    }

    func evals(jobID: Int64) async throws -> [EvalRecord] {
        try read()
        return evalRecords.values.sorted { $0.step < $1.step }
    }

    func recordStepIntent(jobID: Int64, k: Int, exampleIDs: String, mode: StepMode, lr: Double?, groups: StepFigures?,
                          now: Int64) async throws {
        try write("recordStepIntent")
        precondition(steps[k] == nil, "an intent for step \(k) over an existing record")
        precondition(!steps.values.contains { $0.state == .intent }, "two intents at once")
        steps[k] = StepRecord(jobID: jobID, k: k, state: .intent, exampleIDs: exampleIDs, intentAtMs: now, reconciled: false,
                              retries: 0, mode: mode, lr: lr)
        steps[k]?.groupsTried = groups?.groupsTried
        steps[k]?.groupsKept = groups?.groupsKept
        steps[k]?.groupsDropped = groups?.groupsDropped
    }

    func markStepApplied(jobID: Int64, k: Int, metrics: StepMetrics, reconciled: Bool, now: Int64) async throws {
        guard var step = steps[k], step.state == .intent else {
            throw StoreError(path: "", message: "step \(k) has no recorded intent to mark applied")
        }
        try write("markStepApplied")
        step.state = .applied
        step.appliedAtMs = now
        step.reconciled = reconciled
        step.serverStep = metrics.serverStep
        let groups = (step.groupsTried, step.groupsKept, step.groupsDropped)
        step.figures = metrics.figures
        if metrics.groupsTried == nil { (step.groupsTried, step.groupsKept, step.groupsDropped) = groups }
        steps[k] = step
        if let server = metrics.serverStep { serverStep = server }
    }

    func discardStepIntent(jobID: Int64, k: Int) async throws {
        try write("discardStepIntent")
        if steps[k]?.state == .intent { steps[k] = nil }
    }

    func concludeStepNotLanded(jobID: Int64, k: Int, checkAfterMs: Int64) async throws {
        try write("concludeStepNotLanded")
        if steps[k]?.state == .intent { steps[k] = nil }
        job.lateCheckStep = job.lateCheckStep ?? k
        job.lateCheckAfterMs = max(job.lateCheckAfterMs ?? 0, checkAfterMs)
    }

    func clearLateLandingCheck(jobID: Int64) async throws {
        try write("clearLateLandingCheck")
        job.lateCheckStep = nil
        job.lateCheckAfterMs = nil
    }

    func rewindSteps(jobID: Int64, after step: Int) async throws -> Int {
        try write("rewindSteps")
        let removed = steps.keys.filter { $0 > step }
        for k in removed { steps[k] = nil }
        // As the live store: the evals after `step` go, and their examples with them.
        for k in evalRecords.keys where k > step {
            evalRecords[k] = nil
            evalExampleRecords[k] = nil
        }
        return removed.count
    }

    func recordSkippedStep(jobID: Int64, k: Int, exampleIDs: String, figures: StepFigures, now: Int64) async throws {
        try write("recordSkippedStep")
        precondition(steps[k] == nil && k == (appliedSteps.last ?? 0) + 1, "a skipped step \(k) out of order")
        precondition(!steps.values.contains { $0.state == .intent }, "a skipped step with an intent pending")
        var record = StepRecord(jobID: jobID, k: k, state: .applied, exampleIDs: exampleIDs, intentAtMs: now, appliedAtMs: now,
                                reconciled: false, retries: 0, mode: .rl)
        record.figures = figures
        record.skipped = true
        steps[k] = record
    }

    func skippedSteps(jobID: Int64) async throws -> [Int] {
        try read()
        return steps.values.filter { $0.state == .applied && $0.skipped }.map(\.k).sorted()
    }

    func extraGroupsTried(jobID: Int64, groupsPerStep: Int) async throws -> Int {
        try read()
        return steps.values.filter { $0.state == .applied }.compactMap(\.groupsTried).map { max(0, $0 - groupsPerStep) }.reduce(0, +)
    }

    func noteServerStep(jobID: Int64, step: Int) async throws {
        try write("noteServerStep")
        serverStep = step
    }

    func recordCheckpoint(jobID: Int64, step: Int, checkpointID: String, kind: CheckpointKind, expiresAtMs: Int64?,
                          serverStep: Int?, now: Int64) async throws {
        try write("recordCheckpoint")
        if var existing = checkpointRecords[step], existing.deletedAtMs == nil {
            existing.checkpointID = checkpointID
            if let expiresAtMs { existing.expiresAtMs = expiresAtMs }
            if let serverStep { existing.serverStep = serverStep }
            if existing.kind == .reconcile || (existing.kind == .cadence && kind == .final) { existing.kind = kind }
            checkpointRecords[step] = existing
        } else {
            checkpointRecords[step] = CheckpointRecord(jobID: jobID, step: step, checkpointID: checkpointID, kind: kind, savedAtMs: now,
                                                       expiresAtMs: expiresAtMs, serverStep: serverStep)
        }
    }

    func markCheckpointDeleting(jobID: Int64, step: Int, now: Int64) async throws {
        try write("markCheckpointDeleting")
        checkpointRecords[step]?.deletingAtMs = now
    }

    func markCheckpointDeleted(jobID: Int64, step: Int, now: Int64) async throws {
        try write("markCheckpointDeleted")
        checkpointRecords[step]?.deletedAtMs = now
        if checkpointRecords[step]?.deletingAtMs == nil { checkpointRecords[step]?.deletingAtMs = now }
    }

    func recordEval(_ eval: EvalRecord, examples: [EvalExampleRecord]) async throws {
        try write("recordEval")
        evalRecords[eval.step] = eval
        evalExampleRecords[eval.step] = examples
    }

    func recordEvent(jobID: Int64, kind: String, step: Int?, message: String, dataJSON: String?, now: Int64) async throws {
        try write("recordEvent")
        events.append(EventRecord(jobID: jobID, atMs: now, kind: kind, step: step, message: message, dataJSON: dataJSON))
    }

    func recordWaiting(jobID: Int64, _ wait: WaitRecord?, lastError: String?, retriesOutsideSteps: Int, now: Int64) async throws {
        try write("recordWaiting")
    }

    func heartbeat(jobID: Int64, now: Int64) async throws {
        try write("heartbeat")
        job.heartbeatMs = now
    }

    func finish(jobID: Int64, state: JobState, error: String?, stopReason: String?, now: Int64) async throws {
        try write("finish")
        job.state = state
        finished = (state, error)
    }
}
