import Foundation
import GRDB
import Testing
@testable import MoontuneStore

/// Migration v6 (issue 13) rebuilds `jobs` to admit `queued`: a v5 database with jobs, steps,
/// checkpoints, evals and events keeps every row and every reference.
@Suite struct QueueMigrationTests {
    /// A database at v5 with one job and its history, written as a v5 build would have.
    func makeV5Database() throws -> String {
        let path = try temporaryDirectory().appendingPathComponent("v5.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA application_id = \(ProgressStore.applicationID)")
        }
        try ProgressStore.migrator.migrate(queue, upTo: "v5: live service answers")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO jobs (id, name, config_path, config_json, fingerprint_json, base_url, api_key_env, total_steps, state,
                                  pid, created_at_ms, updated_at_ms, stop_reason, retries_outside_steps, server_step)
                VALUES (7, 'old', '/c.json', '{}', '{}', 'http://127.0.0.1/v1', 'K', 10, 'stopped', 42, 1, 2, 'signal', 3, 2);
                INSERT INTO steps (job_id, k, state, example_ids, intent_at_ms, applied_at_ms, reward_mean, retries, mode, lr)
                VALUES (7, 1, 'applied', '1,2', 10, 11, 0.5, 1, 'rl', 0.002), (7, 2, 'applied', '3,4', 12, 13, 0.6, 0, 'rl', 0.002);
                INSERT INTO checkpoints (job_id, step, checkpoint_id, kind, saved_at_ms) VALUES (7, 2, 'ck-2', 'cadence', 14);
                INSERT INTO evals (job_id, step, reward_mean, n, per_skill_json, at_ms) VALUES (7, 2, 0.4, 6, '{}', 15);
                INSERT INTO events (job_id, at_ms, kind, step, message) VALUES (7, 16, 'stopped', 2, 'stopped at step 2');
                """)
        }
        try queue.close()
        return path
    }

    @Test func aV5DatabaseWithDataKeepsEveryRowAndReferenceAfterV6() async throws {
        let path = try makeV5Database()
        let store = try ProgressStore(path: path)
        let job = try #require(try await store.job(named: "old"))
        #expect(job.id == 7)
        #expect(job.state == .stopped)
        #expect(job.stopReason == "signal")
        #expect(job.retriesOutsideSteps == 3)
        #expect(job.serverStep == 2)
        #expect(try await store.lastAppliedStep(jobID: 7) == 2)
        #expect(try await store.checkpoints(jobID: 7).map(\.checkpointID) == ["ck-2"])
        #expect(try await store.evals(jobID: 7).count == 1)
        #expect(try await store.events(jobID: 7).count == 1)
        #expect(try await store.integrityCheck() == "ok")
        let violations = try await store.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count }
        #expect(violations == 0)
        // The references still point at the rebuilt table: deleting the job cascades.
        let referenced = try await store.read { db in
            try String.fetchAll(db, sql: "SELECT \"table\" FROM pragma_foreign_key_list('steps')")
        }
        #expect(referenced == ["jobs"])
        // `queued` is now a state the database accepts, and the job can be queued again.
        let record = JobRecord(name: "old", configPath: "/d.json", configJSON: "{}", fingerprintJSON: "{}",
                               baseURL: "http://127.0.0.1/v1", apiKeyEnv: "K", totalSteps: 10, now: 20)
        #expect(try await store.submitJob(record, priority: 2, runnerAlive: false, now: 21) == .requeued(previous: .stopped))
        let queued = try #require(try await store.job(named: "old"))
        #expect(queued.state == .queued)
        #expect(queued.configPath == "/d.json")
        #expect(try await store.queueCandidates().map(\.name) == ["old"])
        try await store.write { db in try db.execute(sql: "DELETE FROM jobs WHERE id = 7") }
        #expect(try await store.lastAppliedStep(jobID: 7) == 0)
    }

    @Test func theQueueIsHighestPriorityFirstThenOldest() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("q.sqlite").path)
        func record(_ name: String) -> JobRecord {
            JobRecord(name: name, configPath: "/\(name).json", configJSON: "{}", fingerprintJSON: "{}",
                      baseURL: "http://127.0.0.1/v1", apiKeyEnv: "K", totalSteps: 10, now: 1)
        }
        #expect(try await store.submitJob(record("a"), priority: 0, runnerAlive: false, now: 10) == .queued)
        #expect(try await store.submitJob(record("b"), priority: 5, runnerAlive: false, now: 11) == .queued)
        #expect(try await store.submitJob(record("c"), priority: 0, runnerAlive: false, now: 9) == .queued)
        #expect(try await store.submitJob(record("d"), priority: 5, runnerAlive: false, now: 12) == .queued)
        #expect(try await store.queueCandidates().map(\.name) == ["b", "d", "c", "a"])
        // Submitting a queued job again changes its priority, not its place among equals.
        #expect(try await store.submitJob(record("a"), priority: 9, runnerAlive: false, now: 30) == .updated)
        #expect(try await store.queueCandidates().map(\.name) == ["a", "b", "d", "c"])
        // A live runner's job is refused; a completed one is left alone.
        let c = try #require(try await store.job(named: "c"))
        #expect(try await store.submitJob(record("c"), priority: 0, runnerAlive: true, now: 31) == .running)
        try await store.finish(jobID: c.id!, state: .completed, error: nil, now: 32)
        #expect(try await store.submitJob(record("c"), priority: 0, runnerAlive: false, now: 33) == .requeued(previous: .completed))
    }

    @Test func aStopRequestIsSeenByTheDaemonAndForgotten() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let job = try await makeJob(store)
        let id = try #require(job.id)
        #expect(try await store.stopRequests(among: [id]).isEmpty)
        try await store.requestStop(jobID: id, now: 5)
        #expect(try await store.stopRequests(among: [id]) == [id])
        try await store.clearStopRequest(jobID: id)
        #expect(try await store.stopRequests(among: [id]).isEmpty)
        #expect(try await store.isDaemon(pid: 99, host: "h") == false)
        try await store.registerDaemon(pid: 99, host: "h", address: nil, now: 1)
        #expect(try await store.isDaemon(pid: 99, host: "h"))
        try await store.unregisterDaemon(pid: 99, host: "h")
        #expect(try await store.isDaemon(pid: 99, host: "h") == false)
    }
}

@Suite struct StopRequestFromAReaderTests {
    @Test func aWritableStoreOpensBesideAReadOnlyOneInTheSameProcess() async throws {
        let path = try temporaryDirectory().appendingPathComponent("r.sqlite").path
        let writer = try ProgressStore(path: path)
        let job = try await makeJob(writer)
        let reader = try ProgressStore(path: path, readOnly: true)
        #expect(try await reader.job(named: "job-a") != nil)
        do {
            let second = try ProgressStore(path: path)
            try await second.requestStop(jobID: job.id!, now: 1)
        }
        #expect(try await reader.stopRequests(among: [job.id!]) == [job.id!])
        #expect(try await reader.job(named: "job-a") != nil)
        #expect(try await reader.lastAppliedStep(jobID: job.id!) == 0)
    }
}
