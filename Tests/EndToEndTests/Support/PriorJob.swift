import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

/// What the database holds about one job: its row and every row that hangs off it.
struct JobSnapshot: Equatable, Sendable {
    var job: JobRecord
    var steps: [StepRecord]
    var checkpoints: [CheckpointRecord]
    var evals: [EvalRecord]
    var events: [EventRecord]
    var jobCount: Int

    static func take(_ database: URL, job name: String) async throws -> JobSnapshot {
        let store = try ProgressStore(path: database.path, readOnly: true)
        let job = try #require(try await store.job(named: name), "job \(name) is not in \(database.path)")
        let id = try #require(job.id)
        return JobSnapshot(job: job, steps: try await store.steps(jobID: id), checkpoints: try await store.checkpoints(jobID: id),
                           evals: try await store.evals(jobID: id), events: try await store.events(jobID: id, limit: 100_000),
                           jobCount: try await store.allJobs().count)
    }
}

/// A workspace whose database already holds a completed job, `prior`, run from `config.json`:
/// the baseline that every bad run must leave exactly as it was.
struct PriorJob: Sendable {
    static let name = "prior"

    let workspace: Workspace
    let snapshot: JobSnapshot

    /// The one of the enclosing suite (see `PriorJobTrait`).
    @TaskLocal static var current: PriorJob?

    static func make() async throws -> PriorJob {
        let workspace = try await Workspace.make(skills: ["point"], images: 4)
        do {
            try ConfigText().write(to: workspace.directory.appendingPathComponent("config.json"), simulator: workspace.simulator)
            let result = try await workspace.run(["run", "config.json"])
            guard result.status == 0 else {
                throw FixtureError("the prior job did not complete: \(result.stderr)")
            }
            let snapshot = try await JobSnapshot.take(workspace.database, job: name)
            guard snapshot.job.state == .completed, snapshot.steps.count == 2 else {
                throw FixtureError("the prior job is \(snapshot.job.state) with \(snapshot.steps.count) steps")
            }
            return PriorJob(workspace: workspace, snapshot: snapshot)
        } catch {
            await workspace.close()
            throw error
        }
    }

    /// The prior job's rows now.
    func current() async throws -> JobSnapshot {
        try await JobSnapshot.take(workspace.database, job: Self.name)
    }
}

/// Sets up one `PriorJob` for a whole suite and stops its simulator when the suite ends.
struct PriorJobTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let prior = try await PriorJob.make()
        do {
            try await PriorJob.$current.withValue(prior) { try await function() }
        } catch {
            await prior.workspace.close()
            throw error
        }
        await prior.workspace.close()
    }
}

extension Trait where Self == PriorJobTrait {
    /// A database holding a completed job, shared by the suite's tests.
    static var priorJob: Self { PriorJobTrait() }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A job config written as text, one top-level member per line, so that every member's line is
/// known: `name` is on line 2, `rank` 3, `api` 4, `data` 5, `train` 6, `checkpoint` 7, and any
/// extra member from line 8 on. A value is raw JSON text, so a test can put anything there.
struct ConfigText: Sendable {
    static let lines = ["name": 2, "rank": 3, "api": 4, "data": 5, "train": 6, "checkpoint": 7]

    var name = #""prior""#
    var rank = "8"
    /// `%URL%` stands for the simulator's base URL.
    var api = #"{"base_url": "%URL%", "api_key_env": "MOONDREAM_API_KEY", "max_backoff_s": 0.5}"#
    var data = #"{"train": "train.jsonl"}"#
    var train = #"{"steps": 2, "groups_per_step": 2, "rollouts_per_group": 2, "lr": 0.002, "seed": 1, "concurrency": 2}"#
    var checkpoint = #"{"every_steps": 1}"#
    /// Extra members, each a whole `"key": value` text.
    var extra: [String] = []

    func text(baseURL: String) -> String {
        var members = [#""name": \#(name)"#, #""rank": \#(rank)"#, #""api": \#(api.replacingOccurrences(of: "%URL%", with: baseURL))"#,
                       #""data": \#(data)"#, #""train": \#(train)"#, #""checkpoint": \#(checkpoint)"#]
        members += extra
        return "{\n" + members.map { "  " + $0 }.joined(separator: ",\n") + "\n}\n"
    }

    func write(to url: URL, simulator: RunningSimulator) throws {
        try Data(text(baseURL: simulator.baseURL).utf8).write(to: url)
    }
}
