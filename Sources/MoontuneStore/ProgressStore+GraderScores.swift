import GRDB

/// Issue 24: the mean score of every grader (`reward.graders`) at each step.
extension ProgressStore {
    /// One row per step and grader, deleted with its step (an intent discarded, a rewind).
    static func registerGraderScoresMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10: grader scores") { db in
            try db.execute(sql: """
                CREATE TABLE step_grader_scores (
                    job_id INTEGER NOT NULL,
                    k INTEGER NOT NULL,
                    grader TEXT NOT NULL CHECK (grader <> ''),
                    mean REAL NOT NULL,
                    PRIMARY KEY (job_id, k, grader),
                    FOREIGN KEY (job_id, k) REFERENCES steps(job_id, k) ON DELETE CASCADE
                )
                """)
        }
    }

    /// Each eval's grader means (issue 24), with the eval: one more column of `evals`.
    static func registerEvalGraderMeansMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v17: eval grader means") { db in
            try db.execute(sql: "ALTER TABLE evals ADD COLUMN grader_means_json TEXT")
        }
    }

    /// Records the graders' mean scores of step `k`, whose intent (or record) exists; replaces
    /// what an earlier gather of the same step recorded.
    public func recordGraderScores(jobID: Int64, k: Int, means: [String: Double]) async throws {
        guard !means.isEmpty else { return }
        try await write { db in
            try db.execute(sql: "DELETE FROM step_grader_scores WHERE job_id = ? AND k = ?", arguments: [jobID, k])
            for (grader, mean) in means.sorted(by: { $0.key < $1.key }) where mean.isFinite {
                try db.execute(sql: "INSERT INTO step_grader_scores (job_id, k, grader, mean) VALUES (?, ?, ?, ?)",
                               arguments: [jobID, k, grader, mean])
            }
        }
    }

    /// Step → grader → mean, for the applied steps (all of them, or those in `range`).
    public func graderScores(jobID: Int64, steps range: ClosedRange<Int>? = nil) async throws -> [Int: [String: Double]] {
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT g.k, g.grader, g.mean FROM step_grader_scores g
                JOIN steps s ON s.job_id = g.job_id AND s.k = g.k AND s.state = 'applied'
                WHERE g.job_id = ? AND g.k BETWEEN ? AND ? ORDER BY g.k
                """, arguments: [jobID, range?.lowerBound ?? 0, range?.upperBound ?? Int.max])
            var result: [Int: [String: Double]] = [:]
            while let row = try rows.next() {
                result[row[0] as Int, default: [:]][row[1] as String] = row[2] as Double
            }
            return result
        }
    }

    /// The graders' names in the order their columns go (sorted), for a job.
    public func graderNames(jobID: Int64) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT grader FROM step_grader_scores WHERE job_id = ? ORDER BY grader",
                                arguments: [jobID])
        }
    }
}
