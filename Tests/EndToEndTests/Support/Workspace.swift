import Foundation
import MoondreamSimulator
import MoontuneImaging
import MoontuneStore

/// A temporary folder with a generated dataset, a job config, and a simulator on 127.0.0.1:0.
struct Workspace {
    let directory: URL
    let simulator: RunningSimulator
    var database: URL { directory.appendingPathComponent("state.sqlite") }

    /// Starts a simulator and writes a dataset of generated shapes.
    static func make(skills: Set<String> = ["point", "detect", "query"], images: Int = 8, seed: UInt64 = 3,
                     faults: FaultOptions = FaultOptions(),
                     simulator configure: (inout SimulatorOptions) -> Void = { _ in }) async throws -> Workspace {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-e2e-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var options = ShapeDataset.Options()
        options.images = images
        options.evalImages = 4
        options.skills = skills
        options.seed = seed
        try ShapeDataset.write(to: directory, options: options)
        var simulatorOptions = SimulatorOptions(apiKey: MoontuneProcess.apiKey, seed: seed)
        simulatorOptions.faults = faults
        configure(&simulatorOptions)
        let simulator = try await Simulator.start(simulatorOptions)
        return Workspace(directory: directory, simulator: simulator)
    }

    /// Writes `config.json` (or `file`) for a job against this workspace's simulator.
    @discardableResult
    func writeConfig(name: String = "job", steps: Int = 6, groups: Int = 4, rollouts: Int = 4, concurrency: Int = 4,
                     every: Int = 3, eval: Bool = false, seed: Int = 1, extraTrain: [String: Any] = [:],
                     extraAPI: [String: Any] = [:], extra: [String: Any] = [:], file: String = "config.json") throws -> URL {
        var train: [String: Any] = ["steps": steps, "groups_per_step": groups, "rollouts_per_group": rollouts, "lr": 0.002,
                                    "seed": seed, "concurrency": concurrency]
        train.merge(extraTrain) { $1 }
        // A short in-doubt window, and a train_step deadline (6 s) far above what the simulator's
        // steps take but short enough that the final check after a step concluded "never landed"
        // (one deadline after the conclusion, issue 20) costs a fault test seconds, not 15 minutes.
        var api: [String: Any] = ["base_url": simulator.baseURL, "api_key_env": "MOONDREAM_API_KEY", "max_backoff_s": 0.5,
                                  "in_doubt_wait_s": 0.2, "train_step_timeout_s": 6]
        api.merge(extraAPI) { $1 }
        var config: [String: Any] = [
            "name": name, "rank": 8, "api": api,
            "data": eval ? ["train": "train.jsonl", "eval": "eval.jsonl"] : ["train": "train.jsonl"],
            "train": train,
            "checkpoint": ["every_steps": every],
        ]
        if eval { config["eval"] = ["every_steps": every, "max_examples": 6] }
        config.merge(extra) { $1 }
        let url = directory.appendingPathComponent(file)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: url)
        return url
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> MoontuneProcess.Result {
        try await MoontuneProcess.run(arguments + ["--db", database.path], in: directory, environment: environment)
    }

    func start(_ arguments: [String]) throws -> MoontuneProcess.Running {
        try MoontuneProcess.start(arguments + ["--db", database.path], in: directory)
    }

    /// The finetune the simulator holds for a job name.
    func finetune(_ name: String) async -> SimulatorStats.FinetuneSummary? {
        await simulator.stats().finetunes.first { $0.name == name && !$0.deleted }
    }

    /// The job's step records, read from its database.
    func steps(_ name: String) async throws -> [StepRecord] {
        let store = try ProgressStore(path: database.path, readOnly: true)
        guard let job = try await store.job(named: name), let id = job.id else { return [] }
        return try await store.steps(jobID: id)
    }

    func job(_ name: String) async throws -> JobRecord? {
        try await ProgressStore(path: database.path, readOnly: true).job(named: name)
    }

    func close() async {
        await simulator.stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension Workspace {
    /// POSTs to one of the simulator's control endpoints (`/_sim/...`).
    func control(_ path: String, _ body: [String: Any]) async throws {
        guard let url = URL(string: "http://127.0.0.1:\(simulator.port)/_sim/\(path)") else { throw URLError(.badURL) }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (_, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw URLError(.badServerResponse)
        }
    }

    /// Calls the simulator as a client would (with the key), for setting up a scenario.
    func api(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
        guard let url = URL(string: simulator.baseURL + path) else { throw URLError(.badURL) }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue(MoontuneProcess.apiKey, forHTTPHeaderField: "X-Moondream-Auth")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    /// `moontune status --json` for one job, parsed.
    func statusJSON(_ name: String? = nil) async throws -> [String: Any] {
        let result = try await run(["status", "--json"] + (name.map { [$0] } ?? []))
        guard result.status == 0,
              let document = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let jobs = document["jobs"] as? [[String: Any]], let first = jobs.first else {
            throw URLError(.cannotParseResponse)
        }
        return first
    }
}

/// A workspace for the body only: made, handed to the body, and closed (the simulator stopped,
/// the folder removed) before this returns, also when the body throws, so that no test's
/// teardown overlaps the next test.
func withWorkspace<T>(skills: Set<String> = ["point", "detect", "query"], images: Int = 8, seed: UInt64 = 3,
                      faults: FaultOptions = FaultOptions(),
                      simulator configure: (inout SimulatorOptions) -> Void = { _ in },
                      _ body: (Workspace) async throws -> T) async throws -> T {
    try await withWorkspace(try await Workspace.make(skills: skills, images: images, seed: seed, faults: faults, simulator: configure), body)
}

/// The same for a workspace made elsewhere (a helper that prepares a job): closed before this returns.
func withWorkspace<T>(_ workspace: Workspace, _ body: (Workspace) async throws -> T) async throws -> T {
    let result: T
    do {
        result = try await body(workspace)
    } catch {
        await workspace.close()
        throw error
    }
    await workspace.close()
    return result
}

/// SplitMix64: the tests' own seeded source for kill times, so that a failure replays from the
/// seed it prints.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed of a kill test's kill times: the test's own, or `MOONTUNE_KILL_SEED` to replay a
/// failure. Printed, and named in the test's failure messages.
enum KillSeed {
    static func resolve(_ seed: UInt64, test: String) -> UInt64 {
        let chosen = ProcessInfo.processInfo.environment["MOONTUNE_KILL_SEED"].flatMap { UInt64($0) } ?? seed
        print("\(test): kill seed \(chosen) (replay with MOONTUNE_KILL_SEED=\(chosen))")
        return chosen
    }

    static func note(_ seed: UInt64) -> String { "[kill seed \(seed); replay with MOONTUNE_KILL_SEED=\(seed)]" }
}
