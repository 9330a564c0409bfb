import Foundation
import GRDB

/// A job as the queue of `serve` sees it.
public struct QueueEntry: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var configPath: String
    /// The variable the recorded config names for the API key (the key's identity under `serve`).
    public var apiKeyEnv: String = "MOONDREAM_API_KEY"
    public var state: JobState
    public var priority: Int
    public var queuedAtMs: Int64?
}

/// What `submit` did.
public enum SubmitOutcome: Sendable, Equatable {
    /// A new job, recorded `queued`.
    case queued
    /// A stopped, interrupted, failed or pending job, queued again (its previous state).
    case requeued(previous: JobState)
    /// Already in the queue: its priority and config path were updated.
    case updated
    /// Completed: nothing changed.
    case alreadyComplete(step: Int)
    /// A live runner has it: nothing changed.
    case running
}

extension ProgressStore {
    /// Records a submission (in one transaction): a new job is inserted `queued`; a stopped,
    /// interrupted, failed or pending one is queued again; a queued one takes the new priority.
    /// A completed job (every step applied) and one a live runner holds are left alone.
    ///
    /// - Parameters:
    ///   - job: the record a new job gets (state is set here).
    ///   - runnerAlive: whether the job's lock is held right now.
    public func submitJob(_ job: JobRecord, priority: Int, runnerAlive: Bool, now: Int64) async throws -> SubmitOutcome {
        try await write { db in
            guard var existing = try JobRecord.filter(Column("name") == job.name).fetchOne(db), let id = existing.id else {
                var job = job
                job.state = .queued
                job.updatedAtMs = now
                try job.insert(db)
                try db.execute(sql: "UPDATE jobs SET priority = ?, queued_at_ms = ?, submitted = 1 WHERE id = ?",
                               arguments: [priority, now, job.id])
                return .queued
            }
            if runnerAlive { return .running }
            let applied = try Int.fetchOne(db, sql: "SELECT coalesce(max(k), 0) FROM steps WHERE job_id = ? AND state = 'applied'",
                                           arguments: [id]) ?? 0
            if existing.state == .completed && (applied >= job.totalSteps || existing.stopReason == "early_stop") {
                return .alreadyComplete(step: applied)
            }
            let previous = existing.state
            // The file handed to `submit` becomes the recorded config (its training settings were
            // checked against the record's by the admission).
            existing.configPath = job.configPath
            existing.configJSON = job.configJSON
            existing.configText = job.configText ?? existing.configText
            existing.baseURL = job.baseURL
            existing.apiKeyEnv = job.apiKeyEnv
            existing.updatedAtMs = now
            if previous != .queued { existing.state = .queued }
            try existing.update(db)
            if previous == .queued {
                try db.execute(sql: "UPDATE jobs SET priority = ?, submitted = 1 WHERE id = ?", arguments: [priority, id])
                return .updated
            }
            try db.execute(sql: """
                UPDATE jobs SET priority = ?, queued_at_ms = ?, submitted = 1, stop_requested_at_ms = NULL WHERE id = ?
                """, arguments: [priority, now, id])
            return .requeued(previous: previous)
        }
    }

    /// The jobs `serve` may take, in the order it takes them: queued ones, and submitted ones
    /// recorded `running` (whose runner may have died: the caller checks the lock), highest
    /// priority first, then oldest in the queue.
    public func queueCandidates() async throws -> [QueueEntry] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, name, config_path, api_key_env, state, priority, queued_at_ms FROM jobs
                WHERE state = 'queued' OR (state = 'running' AND submitted = 1)
                ORDER BY priority DESC, coalesce(queued_at_ms, created_at_ms) ASC, id ASC
                """).map { row in
                QueueEntry(id: row["id"], name: row["name"], configPath: row["config_path"], apiKeyEnv: row["api_key_env"],
                           state: JobState(rawValue: row["state"]) ?? .queued, priority: row["priority"],
                           queuedAtMs: row["queued_at_ms"])
            }
        }
    }

    /// The priority a job was submitted with (0 for one never submitted).
    public func priority(jobID: Int64) async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT priority FROM jobs WHERE id = ?", arguments: [jobID]) ?? 0 }
    }

    /// A queued job that could not start (bad config, a key missing): recorded `failed` with why,
    /// so that the queue moves on. A job no longer queued is left alone.
    public func failQueuedJob(jobID: Int64, error: String, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE jobs SET state = 'failed', last_error = ?, updated_at_ms = ? WHERE id = ? AND state IN ('queued', 'running')
                """, arguments: [error, now, jobID])
        }
    }

    // MARK: - Stop requests

    /// Asks `serve` to stop the job gracefully (`moontune stop`).
    public func requestStop(jobID: Int64, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET stop_requested_at_ms = ? WHERE id = ?", arguments: [now, jobID])
        }
    }

    /// Takes a queued job out of the queue (`moontune stop` of a job `serve` has not started):
    /// recorded `stopped` with `stop_reason` `signal`, in one statement that changes only a job
    /// still `queued`. A stop request is left with it, so that a `serve` that took the job in the
    /// same instant stops it as soon as it runs. Returns whether the job was still queued.
    public func dequeue(jobID: Int64, now: Int64) async throws -> Bool {
        try await write { db in
            try db.execute(sql: """
                UPDATE jobs SET state = 'stopped', stop_reason = 'signal', stop_requested_at_ms = ?, updated_at_ms = ?
                WHERE id = ? AND state = 'queued'
                """, arguments: [now, now, jobID])
            return db.changesCount == 1
        }
    }

    /// The jobs among `jobIDs` that have been asked to stop.
    public func stopRequests(among jobIDs: [Int64]) async throws -> Set<Int64> {
        guard !jobIDs.isEmpty else { return [] }
        return try await read { db in
            let marks = jobIDs.map { _ in "?" }.joined(separator: ",")
            return Set(try Int64.fetchAll(db, sql: "SELECT id FROM jobs WHERE stop_requested_at_ms IS NOT NULL AND id IN (\(marks))",
                                          arguments: StatementArguments(jobIDs)))
        }
    }

    /// Forgets a stop request (the job stopped, or is taken afresh).
    public func clearStopRequest(jobID: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET stop_requested_at_ms = NULL WHERE id = ?", arguments: [jobID])
        }
    }

    // MARK: - Daemons

    /// Records a `serve` process running against this database.
    public func registerDaemon(pid: Int32, host: String, address: String?, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO serve_daemons (host, pid, started_at_ms, heartbeat_ms, address) VALUES (?, ?, ?, ?, ?)
                """, arguments: [host, pid, now, now, address])
        }
    }

    public func unregisterDaemon(pid: Int32, host: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM serve_daemons WHERE host = ? AND pid = ?", arguments: [host, pid])
        }
    }

    /// Whether `pid` on `host` is (or was, until it died) a `serve` daemon of this database.
    /// False in a database from before v6.
    public func isDaemon(pid: Int32, host: String) async throws -> Bool {
        try await read { db in
            guard try db.tableExists("serve_daemons") else { return false }
            return try Bool.fetchOne(db, sql: "SELECT 1 FROM serve_daemons WHERE host = ? AND pid = ?", arguments: [host, pid]) ?? false
        }
    }
}
