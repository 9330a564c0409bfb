import Foundation
import Logging
import MoondreamAPI
import MoontuneJob
@testable import MoontuneLoop
import MoontuneStore
import Synchronization

/// Rewards without a program: every rollout scores 0.5.
struct ConstantScorer: RewardScorer {
    func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        Array(repeating: 0.5, count: rollouts.count)
    }
    func close() async {}
}

/// Rewards by example and by call: the first `constantCalls` calls (one per group, in the order
/// the loop asks) and every call for an example in `constantIDs` score all rollouts 0.5; the others
/// score 0, 1, 0, ... (a group with signal).
final class ScriptedScorer: RewardScorer {
    let constantIDs: Set<String>
    /// Calls (0-based) that score constant, whatever the example.
    let constantCalls: Range<Int>
    private let calls = Mutex(0)

    init(constantIDs: Set<String> = [], constantCalls: Range<Int> = 0..<0) {
        self.constantIDs = constantIDs
        self.constantCalls = constantCalls
    }

    func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        let call = calls.withLock { calls in
            defer { calls += 1 }
            return calls
        }
        if constantIDs.contains(example.id) || constantCalls.contains(call) { return Array(repeating: 0.5, count: rollouts.count) }
        return rollouts.indices.map { Double($0 % 2) }
    }
    func close() async {}
}

/// Every notice the run shows, for assertions.
final class RecordingObserver: RunObserver {
    private let state = Mutex<[String]>([])
    var notices: [String] { state.withLock { $0 } }
    func record(_ event: RunEvent) {
        if case .notice(let text) = event { state.withLock { $0.append(text) } }
    }
}

/// One job on disk (config, a small dataset of tiny PNGs), run by `JobRunner` against the fake
/// service and the fake store, on virtual time. No process, no socket, no sleep.
struct LoopHarness {
    let folder: URL
    let config: JobConfig
    let dataset: Dataset
    let evalDataset: Dataset?
    let clock: VirtualClock
    let service: FakeTuningService
    let store: FakeProgressStore
    let observer = RecordingObserver()
    let scorer: any RewardScorer

    /// - Parameters:
    ///   - train: merged into the config's `train` object.
    ///   - checkpoint: the config's `checkpoint` object.
    ///   - eval: examples in an eval set (none: no eval).
    init(steps: Int = 4, train: [String: Any] = [:], checkpoint: [String: Any] = ["every_steps": 2], inDoubtWaitSeconds: Double = 30,
         eval: Int = 0, evalEvery: Int = 2, answersStep: Bool = true, scorer: any RewardScorer = ConstantScorer(),
         extra: [String: Any] = [:]) throws {
        self.scorer = scorer
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-loop-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(TinyPNG.bytes).write(to: folder.appendingPathComponent("img.png"))
        let line = { (id: String) in
            #"{"id": "\#(id)", "image": "img.png", "skill": "point", "object": "the dot", "ground_truth": {"points": [{"x": 0.5, "y": 0.25}]}}"#
        }
        try ((0..<8).map { line("t\($0)") }.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("train.jsonl"),
                                                                                   atomically: true, encoding: .utf8)
        var data: [String: Any] = ["train": "train.jsonl"]
        var json: [String: Any] = [:]
        if eval > 0 {
            try ((0..<eval).map { line("e\($0)") }.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("eval.jsonl"),
                                                                                        atomically: true, encoding: .utf8)
            data["eval"] = "eval.jsonl"
            json["eval"] = ["every_steps": evalEvery, "max_examples": eval]
        }
        var trainJSON: [String: Any] = ["steps": steps, "groups_per_step": 2, "rollouts_per_group": 2, "seed": 3, "concurrency": 2]
        trainJSON.merge(train) { $1 }
        json.merge(["name": "job", "rank": 8, "data": data, "train": trainJSON, "checkpoint": checkpoint,
                    "api": ["base_url": "http://127.0.0.1:9/v1", "api_key_env": "MOONDREAM_API_KEY", "in_doubt_wait_s": inDoubtWaitSeconds]]) { $1 }
        json.merge(extra) { $1 }
        let url = folder.appendingPathComponent("job.json")
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: url)
        let report = validateJob(configURL: url)
        guard report.problems.isEmpty, let config = report.config, let dataset = report.train else {
            throw JobFailure("the test job is invalid: \(report.problems.map(\.description))")
        }
        self.config = config
        self.dataset = dataset
        evalDataset = report.eval
        let clock = VirtualClock()
        self.clock = clock
        let store = FakeProgressStore(totalSteps: steps)
        self.store = store
        service = FakeTuningService(answersStep: answersStep, maxStaleness: config.train.maxStaleness, clock: clock,
                                    onCrash: { await store.crash() })
    }

    /// One run of the job, as one `moontune run` would do it, from what the store committed.
    /// - Parameter heartbeat: how often the run beats its heartbeat, on the virtual clock (nil: never).
    /// - Parameter config: another config for this run (a raised budget, say); the job's own by default.
    func run(rewindToServer: Bool = false, heartbeat: Duration? = nil, config override: JobConfig? = nil) async -> RunOutcome {
        await store.restart()
        let config = override ?? self.config
        var logger = Logger(label: "loop-tests")
        logger.logLevel = .critical
        let context = RunContext(config: config, jobID: 1, store: store, client: service, dataset: dataset, evalDataset: evalDataset,
                                 scorer: scorer, builder: RequestBuilder(config: config, cache: ImageCache(maxImageBytes: config.data.maxImageBytes)),
                                 observer: observer, logger: logger, rewindToServer: rewindToServer,
                                 inDoubtWait: .milliseconds(Int64(config.api.inDoubtWaitSeconds * 1000)), clock: clock, heartbeatEvery: heartbeat)
        return await JobRunner(context: context).run()
    }

    /// The exactly-once invariant: the server's step is the number of steps recorded applied,
    /// those are 1...n without a gap, and the server applied each train_step it got at most once.
    /// - Parameter restored: the server was restored (so it applied more train_steps than its step).
    func isExact(restored: Bool = false) async -> Bool {
        let applied = await store.appliedSteps
        return service.step == applied.count && applied == Array(stride(from: 1, through: applied.count, by: 1))
            && (restored || service.applications == service.step) && service.staleTrains == 0
    }

    /// The exactly-once invariant with skipped steps: the server's step is the number of steps
    /// applied and not skipped, the record's steps are 1...n without a gap, no train_step was
    /// applied twice, and none carried a constant group.
    func isExactWithSkips(restored: Bool = false) async -> Bool {
        let applied = await store.appliedSteps
        let skipped = await store.steps.values.filter(\.skipped).count
        let constantSent = service.sentRewards.flatMap { $0 }.contains { group in group.allSatisfy { $0 == group.first } }
        return service.step == applied.count - skipped && applied == Array(stride(from: 1, through: applied.count, by: 1))
            && (restored || service.applications == service.step) && service.staleTrains == 0 && !constantSent
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// A 4×4 grey PNG (stored deflate blocks), built byte by byte.
enum TinyPNG {
    static let bytes: [UInt8] = {
        let width = 4, height = 4
        var raw: [UInt8] = []
        for _ in 0..<height { raw.append(0); raw += Array(repeating: 0x80, count: width) }
        let ihdr = be32(width) + be32(height) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }()

    static func be32(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return be32(data.count) + typed + be32(Int(crc32(typed)))
    }

    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01, 0x01]
        out += [UInt8(data.count & 0xFF), UInt8(data.count >> 8), UInt8(~data.count & 0xFF), UInt8((~data.count >> 8) & 0xFF)]
        out += data
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be32(Int(b << 16 | a))
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
