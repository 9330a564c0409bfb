import GRDB

/// A job's record without its configs: what a daemon reads of every job at each request
/// (`/metrics`, `/api/jobs`) to learn which ones changed, at the cost of a few bytes a job.
public struct JobHead: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var state: JobState
    public var totalSteps: Int
    public var updatedAtMs: Int64
    public var heartbeatMs: Int64?
    public var host: String?
    public var pid: Int32?
    /// Retries counted outside any recorded step.
    public var retriesOutsideSteps: Int

    /// What changes whenever anything `status` shows of the job may have changed: its record's
    /// update time, and while it runs, its heartbeat.
    public var version: Int64 { state == .running ? max(updatedAtMs, heartbeatMs ?? 0) : updatedAtMs }

    /// Whether the job has ended (nothing of it changes until it runs again).
    public var isFinished: Bool { [.completed, .failed, .stopped].contains(state) }
}

extension ProgressStore {
    /// Every job's head, by id.
    public func jobHeads() async throws -> [JobHead] {
        try await read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, name, state, total_steps, updated_at_ms, heartbeat_ms, host, pid,
                       coalesce(retries_outside_steps, 0) AS retries_outside_steps FROM jobs ORDER BY id
                """)
                .map { row in
                    JobHead(id: row["id"], name: row["name"], state: JobState(rawValue: row["state"]) ?? .pending,
                            totalSteps: row["total_steps"], updatedAtMs: row["updated_at_ms"], heartbeatMs: row["heartbeat_ms"],
                            host: row["host"], pid: row["pid"], retriesOutsideSteps: row["retries_outside_steps"])
                }
        }
    }

    /// The job's last eval, without reading the others.
    public func lastEval(jobID: Int64) async throws -> EvalRecord? {
        try await read { db in
            try EvalRecord.filter(Column("job_id") == jobID).order(Column("step").desc).limit(1).fetchOne(db)
        }
    }
}
