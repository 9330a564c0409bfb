import GRDB

extension ProgressStore {
    /// Records a checkpoint the server saved. Saving is idempotent on the server, so recording
    /// the same step twice keeps the first record (the kind may be upgraded from `reconcile`).
    /// `serverStep`: the server's step of it, when it differs from `step` (skipped steps).
    public func recordCheckpoint(jobID: Int64, step: Int, checkpointID: String, kind: CheckpointKind, expiresAtMs: Int64? = nil,
                                 serverStep: Int? = nil, now: Int64) async throws {
        try await write { db in
            if var existing = try CheckpointRecord.fetchOne(db, key: ["job_id": jobID, "step": step]), existing.deletedAtMs == nil {
                existing.checkpointID = checkpointID
                if let expiresAtMs { existing.expiresAtMs = expiresAtMs }
                if let serverStep { existing.serverStep = serverStep }
                if existing.kind == .reconcile || (existing.kind == .cadence && kind == .final) { existing.kind = kind }
                try existing.update(db)
            } else {
                // New, or saved again after a deletion: recorded afresh (a deleted record's kind and
                // server step are not this save's).
                try CheckpointRecord(jobID: jobID, step: step, checkpointID: checkpointID, kind: kind, savedAtMs: now,
                                     expiresAtMs: expiresAtMs, serverStep: serverStep).save(db)
            }
        }
    }

    /// Every checkpoint of a job, deleted ones included, by step.
    public func checkpoints(jobID: Int64) async throws -> [CheckpointRecord] {
        try await read { db in
            try CheckpointRecord.filter(Column("job_id") == jobID).order(Column("step")).fetchAll(db)
        }
    }

    /// Records that a deletion is about to be sent.
    public func markCheckpointDeleting(jobID: Int64, step: Int, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE checkpoints SET deleting_at_ms = ? WHERE job_id = ? AND step = ?", arguments: [now, jobID, step])
        }
    }

    /// Records that the server no longer has the checkpoint.
    public func markCheckpointDeleted(jobID: Int64, step: Int, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE checkpoints SET deleted_at_ms = ?, deleting_at_ms = coalesce(deleting_at_ms, ?) WHERE job_id = ? AND step = ?",
                           arguments: [now, now, jobID, step])
        }
    }

    public func recordEval(_ eval: EvalRecord) async throws {
        try await write { db in try eval.upsert(db) }
    }

    public func evals(jobID: Int64) async throws -> [EvalRecord] {
        try await read { db in try EvalRecord.filter(Column("job_id") == jobID).order(Column("step")).fetchAll(db) }
    }
}
