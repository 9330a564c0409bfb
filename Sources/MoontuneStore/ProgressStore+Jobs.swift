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
    public func markRunning(jobID: Int64, pid: Int32, host: String, totalSteps: Int, configJSON: String,
                            configPath: String, now: Int64) async throws -> JobState {
        try await write { db in
            guard var job = try JobRecord.fetchOne(db, key: jobID) else {
                throw StoreError(path: "", message: "job \(jobID) vanished")
            }
            let previous = job.state
            job.state = .running
            job.pid = pid
            job.host = host
            job.heartbeatMs = now
            job.startedAtMs = now
            job.updatedAtMs = now
            job.totalSteps = totalSteps
            job.configJSON = configJSON
            job.configPath = configPath
            job.lastError = nil
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

    /// Records how the run ended: `stopped`, `failed` (with the error) or `completed`.
    public func finish(jobID: Int64, state: JobState, error: String?, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET state = ?, last_error = ?, updated_at_ms = ?, heartbeat_ms = ? WHERE id = ?",
                           arguments: [state, error, now, now, jobID])
        }
    }

    /// Records that the job's finetune was deleted on the server.
    public func markFinetuneDeleted(jobID: Int64, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET finetune_deleted_at_ms = ?, updated_at_ms = ? WHERE id = ?",
                           arguments: [now, now, jobID])
        }
    }

    /// Replaces the recorded training fingerprint (after the user accepted a change).
    public func setFingerprint(jobID: Int64, fingerprintJSON: String, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET fingerprint_json = ?, updated_at_ms = ? WHERE id = ?",
                           arguments: [fingerprintJSON, now, jobID])
        }
    }
}
