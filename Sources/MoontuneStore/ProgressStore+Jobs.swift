import Foundation
import GRDB

extension ProgressStore {
    public func job(named name: String) async throws -> JobRecord? {
        try await read { db in try JobRecord.filter(Column("name") == name).fetchOne(db) }
    }

    public func job(id: Int64) async throws -> JobRecord? {
        try await read { db in try JobRecord.fetchOne(db, key: id) }
    }

    public func allJobs() async throws -> [JobRecord] {
        try await read { db in try JobRecord.order(Column("id")).fetchAll(db) }
    }

    /// Records a new job in state `pending`.
    public func createJob(_ job: JobRecord) async throws -> JobRecord {
        try await write { db in
            var job = job
            try job.insert(db)
            return job
        }
    }

    /// Takes the job over for this process: state `running`, our pid and host, a fresh heartbeat.
    /// Returns the state it was in before, so the caller can tell a crash from a clean stop.
    /// - Parameter configText: the config's text when a user handed the file to this run (it
    ///   becomes the recorded config); nil when the run reads the recorded one.
    public func markRunning(jobID: Int64, pid: Int32, host: String, totalSteps: Int, configJSON: String,
                            configPath: String, configText: String? = nil, now: Int64) async throws -> JobState {
        try await write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else {
                throw StoreError(path: "", message: "job \(jobID) vanished")
            }
            let previous = job.state
            // A run that died still ran until its last heartbeat.
            if previous == .running, let started = job.startedAtMs, let beat = job.heartbeatMs, beat > started {
                job.runningMs = (job.runningMs ?? 0) + (beat - started)
            }
            job.state = .running
            job.pid = pid
            job.host = host
            job.heartbeatMs = now
            job.startedAtMs = now
            job.updatedAtMs = now
            job.totalSteps = totalSteps
            job.configJSON = configJSON
            job.configPath = configPath
            if let configText { job.configText = configText }
            job.lastError = nil
            job.waitingJSON = nil
            job.stopReason = nil
            try job.update(db)
            return previous
        }
    }

    public func setFinetuneID(jobID: Int64, finetuneID: String, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET finetune_id = ?, updated_at_ms = ? WHERE id = ?",
                           arguments: [finetuneID, now, jobID])
        }
    }

    public func heartbeat(jobID: Int64, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET heartbeat_ms = ? WHERE id = ? AND state = 'running'", arguments: [now, jobID])
        }
    }

    /// Records how the run ended: `stopped` (with its reason), `failed` (with the error) or
    /// `completed`. The wait is over. A stop keeps the last error it saw (the API may have been
    /// down when it was asked to stop); completing clears it.
    public func finish(jobID: Int64, state: JobState, error: String?, stopReason: String? = nil, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE jobs SET state = ?, last_error = CASE WHEN ? THEN coalesce(?, last_error) ELSE ? END,
                                stop_reason = ?, waiting_json = NULL, updated_at_ms = ?, heartbeat_ms = ?,
                                running_ms = coalesce(running_ms, 0) + max(0, ? - coalesce(started_at_ms, ?))
                WHERE id = ?
                """, arguments: [state, state == .stopped, error, error, stopReason, now, now, now, now, jobID])
        }
    }

    /// Records that the runner waits on the API (`wait`), or no longer does (nil), with the last
    /// error it saw (nil: a call succeeded since), and adds `retriesOutsideSteps` (negative when
    /// retries counted here earlier have since been recorded with their step).
    /// Called at most every second or so, not once per retry.
    public func recordWaiting(jobID: Int64, _ wait: WaitRecord?, lastError: String?, retriesOutsideSteps: Int,
                              now: Int64) async throws {
        let json = try wait.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await write { db in
            try db.execute(sql: """
                UPDATE jobs SET waiting_json = ?, last_error = ?, retries_outside_steps = max(0, retries_outside_steps + ?),
                                updated_at_ms = ? WHERE id = ? AND state = 'running'
                """, arguments: [json, lastError, retriesOutsideSteps, now, jobID])
        }
    }

    /// Records that the job's finetune was deleted on the server.
    public func markFinetuneDeleted(jobID: Int64, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET finetune_deleted_at_ms = ?, updated_at_ms = ? WHERE id = ?",
                           arguments: [now, now, jobID])
        }
    }
}
