import Foundation
import MoontuneDecisions
@testable import MoontuneLoop
import MoontuneRandom
import MoontuneStore
import Testing

/// Progress changes in one place (issue 21): random sequences of facts, each committed through
/// the ledger to the live store, and after every one the machine's state must be exactly what a
/// fresh load of the store gives. The same facts go to the loop tests' fake store, which must
/// hold what the live one holds, since the exactly-once tests rely on it.
@Suite struct ProgressFactReplayTests {
    static let groupsPerStep = 4
    static let rolloutsPerGroup = 3

    static func machine() -> LoopStateMachine {
        LoopStateMachine(progress: RecordedProgress(totalSteps: 1_000, checkpointEvery: 5, evalEvery: 5), maxStaleness: 1,
                         rewindToServer: true, jobName: "replay", groupsPerStep: groupsPerStep, rolloutsPerGroup: rolloutsPerGroup)
    }

    static func ledger(_ store: any ProgressRecording, jobID: Int64) -> ProgressLedger {
        ProgressLedger(machine: machine(), store: store, jobID: jobID, clock: TickingClock(), skipConstantGroups: true,
                       groupsPerStep: groupsPerStep)
    }

    /// What a run starting now would load from `store`.
    static func reloaded(_ store: any ProgressRecording, jobID: Int64) async throws -> RecordedProgress {
        let fresh = ledger(store, jobID: jobID)
        try await fresh.load()
        return fresh.machine.progress
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func theMachineAndTheStoreAgreeAfterEveryFact(seed: UInt64) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let live = try ProgressStore(path: directory.appendingPathComponent("replay.sqlite").path)
        let job = try await live.createJob(JobRecord(name: "replay", configPath: "/c", configJSON: "{}", fingerprintJSON: "{}",
                                                     baseURL: "http://127.0.0.1:1/v1", apiKeyEnv: "K", totalSteps: 1_000, now: 1))
        let jobID = try #require(job.id)
        let fake = FakeProgressStore(totalSteps: 1_000)
        let ledger = Self.ledger(live, jobID: jobID)
        let fakeLedger = Self.ledger(fake, jobID: fake.jobID)
        try await ledger.load()
        try await fakeLedger.load()

        var random = SplitMix64(seed: seed)
        var kinds: Set<String> = []
        for index in 0..<160 {
            guard let fact = FactGenerator.next(after: ledger.machine.progress, random: &random) else { continue }
            kinds.insert(fact.name)
            try await ledger.commit(Self.forJob(fact, jobID: jobID))
            try await fakeLedger.commit(Self.forJob(fact, jobID: fake.jobID))
            let stored = try await Self.reloaded(live, jobID: jobID)
            #expect(ledger.machine.progress == stored, "seed \(seed), fact \(index) \(fact.name): the machine and the store disagree")
            #expect(fakeLedger.machine.progress == stored, "seed \(seed), fact \(index) \(fact.name): the fake's machine")
            #expect(try await Self.reloaded(fake, jobID: fake.jobID) == stored, "seed \(seed), fact \(index) \(fact.name): the fake store")
            #expect(ledger.rolloutPolicy.applied == stored.lastApplied, "the gatherers' step is the record's")
            if ledger.machine.progress != stored { return }
        }
        #expect(kinds.count >= 9, "seed \(seed) exercised only \(kinds.sorted())")
    }

    @Test func aFailedWriteLeavesTheMachineWhereTheRecordIs() async throws {
        let store = FakeProgressStore(totalSteps: 10)
        let ledger = Self.ledger(store, jobID: store.jobID)
        try await ledger.load()
        try await ledger.commit(.intentRecorded(StepIntent(step: 1, exampleIDs: "[]", mode: .rl, lr: nil, groups: nil)))
        await store.crash(onWrite: { $0 == "markStepApplied" })
        await #expect(throws: SimulatedCrash.self) {
            try await ledger.commit(.stepApplied(step: 1, metrics: StepMetrics(), reconciled: false))
        }
        #expect(ledger.machine.progress.lastApplied == 0)
        #expect(ledger.machine.progress.pendingIntent == 1, "the machine never runs ahead of the record")
        #expect(ledger.rolloutPolicy.applied == 0)
    }

    @Test func anAnswerReleasesTheNextStepsRolloutsBeforeItsRecordAndTheRecordKeepsThem() async throws {
        let store = FakeProgressStore(totalSteps: 10)
        let ledger = Self.ledger(store, jobID: store.jobID)
        try await ledger.load()
        try await ledger.commit(.intentRecorded(StepIntent(step: 1, exampleIDs: "[]", mode: .rl, lr: nil, groups: nil)))
        #expect(ledger.rolloutPolicy.applied == 0)
        #expect(ledger.trainAnswered(step: 1, serverStep: 1, applied: true) == .recordApplied(failure: nil))
        #expect(ledger.rolloutPolicy.applied == 1, "released before the record")
        #expect(ledger.machine.progress.lastApplied == 0, "but the record is not ahead of the store")
        try await ledger.commit(.stepApplied(step: 1, metrics: StepMetrics(), reconciled: false))
        #expect(ledger.rolloutPolicy.applied == 1)
        // A rewind takes the gatherers' step back with the record.
        try await ledger.commit(.rewound(to: 0))
        #expect(ledger.rolloutPolicy.applied == 0)
        #expect(ledger.machine.rewinds == 1)
    }

    /// The fact with the eval's job set to `jobID`.
    static func forJob(_ fact: ProgressFact, jobID: Int64) -> ProgressFact {
        guard case let .evalRecorded(eval, examples) = fact else { return fact }
        var record = eval
        record.jobID = jobID
        return .evalRecorded(record, examples: examples)
    }
}

/// Random facts that a run could commit from the given progress: the loop's order (an intent
/// before its outcome, steps in order, evals and checkpoints at applied steps), and otherwise
/// anything, rewinds and deletions included.
enum FactGenerator {
    static func next(after progress: RecordedProgress, random: inout SplitMix64) -> ProgressFact? {
        func pick(_ bound: Int) -> Int { Int(random.next(below: UInt64(max(1, bound)))) }
        func maybeTried() -> Int? { pick(3) == 0 ? nil : ProgressFactReplayTests.groupsPerStep + pick(5) }
        let applied = progress.lastApplied
        let live = progress.liveCheckpoints.keys.sorted()
        if let pending = progress.pendingIntent {
            switch pick(10) {
            case 0...4:
                var metrics = StepMetrics()
                metrics.rewardMean = random.unit()
                metrics.groupsTried = maybeTried()
                return .stepApplied(step: pending, metrics: metrics, reconciled: pick(2) == 0)
            case 5, 6: return .intentDiscarded(step: pending)
            case 7, 8: return .concludedNotLanded(step: pending, checkAfterMs: Int64(1_000 + pick(10_000)))
            default: return .rewound(to: pick(applied + 1))
            }
        }
        switch pick(20) {
        case 0...6:
            var groups: StepFigures?
            if pick(2) == 0 {
                var figures = StepFigures()
                figures.groupsTried = maybeTried()
                groups = figures
            }
            return .intentRecorded(StepIntent(step: applied + 1, exampleIDs: "[\"e\(applied + 1)\"]", mode: pick(5) == 0 ? .sft : .rl,
                                              lr: pick(2) == 0 ? nil : 0.001, groups: groups))
        case 7, 8:
            var figures = StepFigures()
            figures.groupsTried = ProgressFactReplayTests.groupsPerStep * (1 + pick(3))
            return .stepSkipped(step: applied + 1, exampleIDs: "[]", figures: figures)
        case 9, 10:
            guard applied >= 1 else { return nil }
            let step = 1 + pick(applied)
            let kinds: [CheckpointKind] = [.cadence, .final, .reconcile]
            return .checkpointRecorded(CheckpointSave(step: step, checkpointID: "ck-\(step)-\(pick(1000))", kind: kinds[pick(3)],
                                                      expiresAtMs: pick(2) == 0 ? nil : 9_999, serverStep: pick(2) == 0 ? nil : max(0, step - pick(2))))
        case 11:
            guard !live.isEmpty else { return nil }
            return .deletionStarted(step: live[pick(live.count)])
        case 12, 13:
            guard !live.isEmpty else { return nil }
            return .checkpointDeleted(step: live[pick(live.count)])
        case 14, 15:
            guard !progress.evalSteps.contains(applied) else { return nil }
            let eval = EvalRecord(jobID: 1, step: applied, rewardMean: random.unit(), count: 2, perSkillJSON: "{}", atMs: 5)
            return .evalRecorded(eval, examples: [])
        case 16:
            guard progress.lateLandingCheck != nil else { return nil }
            return .lateLandingCleared
        case 17:
            guard applied >= 1 else { return nil }
            return .rewound(to: pick(applied + 1))
        default:
            return nil
        }
    }
}

/// A clock that moves a millisecond each time it is read.
final class TickingClock: LoopClock, @unchecked Sendable {
    private var ms: Int64 = 1_000
    private let lock = NSLock()
    func nowMs() -> Int64 { lock.withLock { ms += 1; return ms } }
    func sleep(for duration: Duration) async throws {}
}
