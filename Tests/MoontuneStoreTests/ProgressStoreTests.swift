import Foundation
import Testing
@testable import MoontuneStore

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func makeJob(_ store: ProgressStore, name: String = "job-a") async throws -> JobRecord {
    try await store.createJob(JobRecord(name: name, configPath: "/c.json", configJSON: "{}", fingerprintJSON: "{}",
                                        baseURL: "http://127.0.0.1/v1", apiKeyEnv: "K", totalSteps: 10, now: 1))
}

@Suite struct ProgressStoreTests {
    @Test func createsThePrivateDatabaseInWALModeWithFullSync() async throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("state.sqlite").path
        let store = try ProgressStore(path: path)
        _ = try await makeJob(store)
        let (mode, sync) = try await store.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
        #expect(mode == "wal")
        #expect(sync == 2)
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
        #expect(try await store.integrityCheck() == "ok")
    }

    @Test func refusesAForeignFileAndLeavesItUntouched() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("notes.txt").path
        let content = Data("these are my notes, not a database\n".utf8)
        try content.write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StoreError.self) { try ProgressStore(path: path) }
        #expect(error.description.contains("not a SQLite database"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
    }

    @Test func refusesAnotherApplicationsSQLiteDatabase() throws {
        let dir = try temporaryDirectory()
        let path = dir.appendingPathComponent("other.sqlite").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, "CREATE TABLE mine (x); INSERT INTO mine VALUES (42);"]
        try process.run()
        process.waitUntilExit()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let error = try #require(throws: StoreError.self) { try ProgressStore(path: path) }
        #expect(error.description.contains("not a moontune one"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func refusesADirectory() throws {
        let dir = try temporaryDirectory()
        #expect(throws: StoreError.self) { try ProgressStore(path: dir.path) }
    }

    @Test func stepsGoFromIntentToAppliedInOrderOnly() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let job = try await makeJob(store)
        let id = try #require(job.id)
        await #expect(throws: StoreError.self) { try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 1) }
        try await store.recordStepIntent(jobID: id, k: 1, exampleIDs: #"["a","b"]"#, now: 1)
        await #expect(throws: StoreError.self) { try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 1) }
        #expect(try await store.pendingIntent(jobID: id)?.k == 1)
        #expect(try await store.lastAppliedStep(jobID: id) == 0)
        try await store.markStepApplied(jobID: id, k: 1, metrics: StepMetrics(StepFigures(rewardMean: 0.5, retries: 2)), reconciled: false, now: 2)
        await #expect(throws: StoreError.self) {
            try await store.markStepApplied(jobID: id, k: 1, metrics: StepMetrics(), reconciled: false, now: 3)
        }
        #expect(try await store.lastAppliedStep(jobID: id) == 1)
        #expect(try await store.pendingIntent(jobID: id) == nil)
        let step = try #require(try await store.step(jobID: id, k: 1))
        #expect(step.rewardMean == 0.5)
        #expect(step.retries == 2)
        #expect(step.exampleIDs == #"["a","b"]"#)

        try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 4)
        try await store.discardStepIntent(jobID: id, k: 2)
        #expect(try await store.pendingIntent(jobID: id) == nil)
        try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 5)
    }

    @Test func checkpointsAreRecordedOnceAndDeletionsTwice() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("c.sqlite").path)
        let id = try #require(try await makeJob(store).id)
        try await store.recordCheckpoint(jobID: id, step: 3, checkpointID: "c3", kind: .reconcile, now: 1)
        try await store.recordCheckpoint(jobID: id, step: 3, checkpointID: "c3", kind: .cadence, now: 2)
        try await store.markCheckpointDeleting(jobID: id, step: 3, now: 3)
        var all = try await store.checkpoints(jobID: id)
        #expect(all.count == 1)
        #expect(all.first?.kind == .cadence)
        #expect(all.first?.deletingAtMs == 3)
        #expect(all.first?.isLive == true)
        try await store.markCheckpointDeleted(jobID: id, step: 3, now: 4)
        all = try await store.checkpoints(jobID: id)
        #expect(all.first?.isLive == false)
    }

    @Test func oneDatabaseHoldsManyJobsWithUniqueNames() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("m.sqlite").path)
        _ = try await makeJob(store, name: "one")
        _ = try await makeJob(store, name: "two")
        await #expect(throws: StoreError.self) { _ = try await makeJob(store, name: "one") }
        #expect(try await store.allJobs().map(\.name) == ["one", "two"])
    }

    @Test func reopeningKeepsEverything() async throws {
        let path = try temporaryDirectory().appendingPathComponent("r.sqlite").path
        do {
            let store = try ProgressStore(path: path)
            let id = try #require(try await makeJob(store).id)
            try await store.recordEvent(jobID: id, kind: "started", step: nil, message: "hello", now: 1)
        }
        let again = try ProgressStore(path: path)
        let job = try #require(try await again.job(named: "job-a"))
        #expect(try await again.events(jobID: try #require(job.id)).map(\.message) == ["hello"])
    }
}

@Suite struct JobLockTests {
    @Test func theLockIsExclusiveAndReleasedWithItsOwner() throws {
        let db = try temporaryDirectory().appendingPathComponent("l.sqlite").path
        var first = try JobLock.tryAcquire(databasePath: db, jobName: "j")
        #expect(first != nil)
        #expect(try JobLock.tryAcquire(databasePath: db, jobName: "j") == nil)
        #expect(JobLock.isHeld(databasePath: db, jobName: "j"))
        #expect(try JobLock.tryAcquire(databasePath: db, jobName: "other") != nil)
        first = nil
        #expect(!JobLock.isHeld(databasePath: db, jobName: "j"))
        #expect(try JobLock.tryAcquire(databasePath: db, jobName: "j") != nil)
    }
}

@Suite struct WaitRecordTests {
    @Test func aWaitRoundTripsAndAStopKeepsTheLastErrorWithItsReason() async throws {
        let dir = try temporaryDirectory()
        let store = try ProgressStore(path: dir.appendingPathComponent("state.sqlite").path)
        let id = try #require(try await makeJob(store).id)
        #expect(try await store.job(id: id)?.retriesOutsideSteps == 0)
        _ = try await store.markRunning(jobID: id, pid: 1, host: "h", totalSteps: 10, configJSON: "{}", configPath: "/c.json", now: 2)
        let wait = WaitRecord(what: "rollouts", endpoint: "POST /tuning/rollouts", sinceMs: 1000, lastError: "429, Retry-After 20 s",
                              attempt: 3, nextAttemptMs: 21_000, givesUpAtMs: 901_000)
        try await store.recordWaiting(jobID: id, wait, lastError: "POST /tuning/rollouts: 429, Retry-After 20 s", retriesOutsideSteps: 3, now: 5)
        var job = try #require(try await store.job(id: id))
        #expect(job.waiting == wait)
        #expect(job.lastError == "POST /tuning/rollouts: 429, Retry-After 20 s")
        #expect(job.retriesOutsideSteps == 3)
        let json = try #require(job.waitingJSON)
        for key in ["what", "endpoint", "since_ms", "last_error", "attempt", "next_attempt_ms", "gives_up_at_ms"] {
            #expect(json.contains("\"\(key)\""), "\(key) in \(json)")
        }
        try await store.recordWaiting(jobID: id, nil, lastError: "POST /tuning/rollouts: 429, Retry-After 20 s", retriesOutsideSteps: -5, now: 6)
        #expect(try await store.job(id: id)?.retriesOutsideSteps == 0, "never below zero")
        try await store.recordWaiting(jobID: id, wait, lastError: "x: 503", retriesOutsideSteps: 0, now: 7)

        try await store.finish(jobID: id, state: .stopped, error: nil, stopReason: "signal", now: 8)
        job = try #require(try await store.job(id: id))
        #expect(job.state == .stopped)
        #expect(job.stopReason == "signal")
        #expect(job.waitingJSON == nil, "a stopped job waits for nothing")
        #expect(job.lastError == "x: 503", "a stop keeps the error it saw")

        _ = try await store.markRunning(jobID: id, pid: 1, host: "h", totalSteps: 10, configJSON: "{}", configPath: "/c.json", now: 9)
        job = try #require(try await store.job(id: id))
        #expect(job.stopReason == nil && job.lastError == nil)
        try await store.finish(jobID: id, state: .completed, error: nil, now: 10)
        #expect(try await store.job(id: id)?.lastError == nil)
    }

    @Test func theWaitMigrationIsTheFourth() async throws {
        let dir = try temporaryDirectory()
        let store = try ProgressStore(path: dir.appendingPathComponent("state.sqlite").path)
        let applied = try await store.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied.contains("v4: waits on jobs"))
    }
}
