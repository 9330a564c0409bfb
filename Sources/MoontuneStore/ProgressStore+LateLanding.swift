import GRDB

/// Issue 20: the final check for a step concluded "never landed" by waiting.
///
/// A train_step whose outcome was unknown is concluded "never landed" when the server's step has
/// not moved by the end of its in-doubt window, and is sent again. If the first request was in fact
/// still running, it lands on top of the second: a doubled step. The conclusion is recorded with
/// the intent's removal, in one transaction, together with when a late landing of it could last
/// have happened; before the job is recorded `completed` (or stops for its budget), the server's
/// step is read once more after that time.
extension ProgressStore {
    static func registerLateLandingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v13: late landing check") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN late_check_step INTEGER CHECK (late_check_step >= 1);
                ALTER TABLE jobs ADD COLUMN late_check_after_ms INTEGER;
                """)
        }
    }

    /// Drops step `k`'s intent, concluded "never landed" by waiting, and records the final check it
    /// calls for: the first such step since the last check is kept (the one the check names), and
    /// the check's time is the latest of the conclusions'.
    public func concludeStepNotLanded(jobID: Int64, k: Int, checkAfterMs: Int64) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM steps WHERE job_id = ? AND k = ? AND state = 'intent'", arguments: [jobID, k])
            try db.execute(sql: """
                UPDATE jobs SET late_check_step = coalesce(late_check_step, ?),
                                late_check_after_ms = max(coalesce(late_check_after_ms, 0), ?)
                WHERE id = ?
                """, arguments: [k, checkAfterMs, jobID])
        }
    }

    /// The final check found the server where the record says: nothing is left to check.
    public func clearLateLandingCheck(jobID: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET late_check_step = NULL, late_check_after_ms = NULL WHERE id = ?", arguments: [jobID])
        }
    }
}
