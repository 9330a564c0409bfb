import Foundation
import MoondreamAPI
import MoondreamSimulator
import MoontuneManage
import MoontuneStore

/// A simulator on 127.0.0.1:0 and a state database in a fresh directory; the jobs recorded in it
/// train on the simulator, with their key in `keyVariable`.
struct ManageWorld {
    /// Set once for the process: the simulator accepts any key.
    static let keyVariable = "MOONTUNE_MANAGE_TESTS_KEY"

    let simulator: RunningSimulator
    let databasePath: String
    let store: ProgressStore

    static func with(_ body: (ManageWorld) async throws -> Void) async throws {
        setenv(keyVariable, "sk-manage-tests", 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-manage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.sqlite").path
        let simulator = try await Simulator.start(SimulatorOptions(seed: 7))
        do {
            try await body(ManageWorld(simulator: simulator, databasePath: path, store: try ProgressStore(path: path)))
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }

    var access: APIAccess { APIAccess(baseURL: simulator.baseURL, apiKeyEnv: Self.keyVariable, origin: "the tests") }

    /// A client of the simulator, shut down after `body`.
    func withSimulatorClient<T>(_ body: (MoondreamClient) async throws -> T) async throws -> T {
        try await withClient(try access.makeClient(), body)
    }

    /// A job recorded as having created `finetuneID` (nil: it never ran) on the simulator.
    @discardableResult
    func job(_ name: String, finetuneID: String?) async throws -> JobRecord {
        let job = try await store.createJob(JobRecord(name: name, configPath: "/\(name).json", configJSON: "{}", fingerprintJSON: "{}",
                                                      baseURL: simulator.baseURL, apiKeyEnv: Self.keyVariable, totalSteps: 10, now: 1))
        guard let finetuneID, let id = job.id else { return job }
        try await store.setFinetuneID(jobID: id, finetuneID: finetuneID, now: 2)
        return try await store.job(id: id) ?? job
    }
}

/// The message of the `ManageFailure` that `body` throws, or nil.
func failure(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch let failure as ManageFailure {
        return failure.message
    } catch {
        return "not a ManageFailure: \(error)"
    }
}
