import Foundation
import GRDB

/// What `moontune sweep` did with a sweep.
public enum SweepSubmitOutcome: Sendable, Equatable {
    /// Recorded, with its jobs queued.
    case submitted
    /// The same sweep (same digest) was already recorded: nothing changed.
    case unchanged
    /// Another sweep is recorded under this name: nothing changed.
    case conflict
    /// A job with one of the sweep's job names exists outside the sweep: nothing changed.
    case jobNameTaken(String)
}

extension ProgressStore {
    // MARK: - v15 (issue 25): sweeps

    /// A sweep, its jobs with their params, and the pruning decisions with the rung's figures.
    /// Registered last, after v14.
    static func registerSweepsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v15: sweeps") { db in
            try db.execute(sql: """
                CREATE TABLE sweeps (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    digest TEXT NOT NULL,
                    file_text TEXT NOT NULL,
                    file_path TEXT NOT NULL,
                    metric TEXT NOT NULL,
                    prune_json TEXT,
                    created_at_ms INTEGER NOT NULL
                );
                CREATE TABLE sweep_jobs (
                    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
                    job_id INTEGER NOT NULL UNIQUE REFERENCES jobs(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL CHECK (position >= 1),
                    params_json TEXT NOT NULL,
                    pruning_released_at_ms INTEGER,
                    PRIMARY KEY (sweep_id, position)
                );
                CREATE TABLE prune_decisions (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    rung INTEGER NOT NULL CHECK (rung >= 1),
                    goes_on INTEGER NOT NULL CHECK (goes_on IN (0, 1)),
                    value REAL,
                    rank INTEGER NOT NULL CHECK (rank >= 1),
                    cohort INTEGER NOT NULL CHECK (cohort >= 1),
                    kept INTEGER NOT NULL CHECK (kept >= 1),
                    figures_json TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    released_at_ms INTEGER,
                    PRIMARY KEY (job_id, rung)
                );
                """)
        }
    }

    // MARK: - Submitting

    /// Records a sweep and queues its jobs, in one transaction: all of it or nothing.
    /// The same sweep (same name and digest) again changes nothing; another under a used name is refused.
    ///
    /// - Parameter jobs: each new job's record (as `submit` records it) and its params (`SweepMembership.paramsJSON`), in order.
    public func submitSweep(_ sweep: SweepRecord, jobs: [(record: JobRecord, paramsJSON: String)], priority: Int,
                            now: Int64) async throws -> SweepSubmitOutcome {
        let pruneJSON = try sweep.prune.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        return try await write { db in
            if let digest = try String.fetchOne(db, sql: "SELECT digest FROM sweeps WHERE name = ?", arguments: [sweep.name]) {
                return digest == sweep.digest ? .unchanged : .conflict
            }
            for (record, _) in jobs {
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM jobs WHERE name = ?", arguments: [record.name]) == true {
                    return .jobNameTaken(record.name)
                }
            }
            try db.execute(sql: """
                INSERT INTO sweeps (name, digest, file_text, file_path, metric, prune_json, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [sweep.name, sweep.digest, sweep.fileText, sweep.filePath, sweep.metric, pruneJSON, now])
            let sweepID = db.lastInsertedRowID
            for (position, (record, params)) in jobs.enumerated() {
                // Queued as `submit` queues a new job (ProgressStore+Queue's submitJob).
                var job = record
                job.state = .queued
                job.updatedAtMs = now
                try job.insert(db)
                try db.execute(sql: "UPDATE jobs SET priority = ?, queued_at_ms = ?, submitted = 1 WHERE id = ?",
                               arguments: [priority, now, job.id])
                try db.execute(sql: "INSERT INTO sweep_jobs (sweep_id, job_id, position, params_json) VALUES (?, ?, ?, ?)",
                               arguments: [sweepID, job.id, position + 1, params])
            }
            return .submitted
        }
    }

    // MARK: - Reading

    public func sweep(named name: String) async throws -> SweepRecord? {
        try await read { db in
            guard try db.tableExists("sweeps") else { return nil }
            return try Row.fetchOne(db, sql: "SELECT * FROM sweeps WHERE name = ?", arguments: [name]).map(Self.sweepRecord)
        }
    }

    static func sweepRecord(_ row: Row) -> SweepRecord {
        let prune = (row["prune_json"] as String?).flatMap { try? JSONDecoder().decode(PruneRule.self, from: Data($0.utf8)) }
        return SweepRecord(id: row["id"], name: row["name"], digest: row["digest"], fileText: row["file_text"], filePath: row["file_path"],
                           metric: row["metric"], prune: prune, createdAtMs: row["created_at_ms"])
    }

    static let membershipSQL = """
        SELECT s.id AS sweep_id, s.name AS sweep, s.metric, s.prune_json, j.job_id, j.position, j.params_json,
               j.pruning_released_at_ms
        FROM sweep_jobs j JOIN sweeps s ON s.id = j.sweep_id
        """

    static func membership(_ row: Row) -> SweepMembership {
        let prune = (row["prune_json"] as String?).flatMap { try? JSONDecoder().decode(PruneRule.self, from: Data($0.utf8)) }
        return SweepMembership(sweepID: row["sweep_id"], sweep: row["sweep"], jobID: row["job_id"], position: row["position"],
                               paramsJSON: row["params_json"], metric: row["metric"], prune: prune,
                               pruningReleasedAtMs: row["pruning_released_at_ms"])
    }

    /// The sweep a job belongs to, with its params (nil: not a sweep's job, or a database from
    /// before v15). The seam for trackers: the sweep's name and the variant's settings per job.
    public func sweepMembership(jobID: Int64) async throws -> SweepMembership? {
        try await read { db in
            guard try db.tableExists("sweep_jobs") else { return nil }
            return try Row.fetchOne(db, sql: Self.membershipSQL + " WHERE j.job_id = ?", arguments: [jobID]).map(Self.membership)
        }
    }

    /// A sweep's jobs, in position order.
    public func sweepMembers(sweepID: Int64) async throws -> [SweepMembership] {
        try await read { db in
            try Row.fetchAll(db, sql: Self.membershipSQL + " WHERE j.sweep_id = ? ORDER BY j.position", arguments: [sweepID])
                .map(Self.membership)
        }
    }

    /// Every pruning decision of a job, by rung.
    public func pruneDecisions(jobID: Int64) async throws -> [PruneDecisionRecord] {
        try await read { db in
            guard try db.tableExists("prune_decisions") else { return [] }
            return try Row.fetchAll(db, sql: "SELECT * FROM prune_decisions WHERE job_id = ? ORDER BY rung", arguments: [jobID])
                .map(Self.decision)
        }
    }

    static func decision(_ row: Row) -> PruneDecisionRecord {
        PruneDecisionRecord(jobID: row["job_id"], rung: row["rung"], goesOn: row["goes_on"], value: row["value"], rank: row["rank"],
                            cohort: row["cohort"], kept: row["kept"], figuresJSON: row["figures_json"], atMs: row["at_ms"],
                            releasedAtMs: row["released_at_ms"])
    }

    // MARK: - Deciding

    /// The pruning decision of job `jobID` at rung `rung`: the recorded one if it was taken before
    /// (never taken twice), else taken now by `decide` on the cohort as recorded and recorded with
    /// its figures, in one transaction (so a sibling's decision at the same moment sees a
    /// consistent record). Nil when the job is no sweep's, its sweep has no pruning, the rung is
    /// not one of its rungs, it has no eval at the rung, or it was released from pruning.
    public func decidePruning(jobID: Int64, rung: Int, now: Int64,
                              decide: @escaping @Sendable (PruneCohort, PruneRule) -> PruneVerdict) async throws -> PruneDecisionRecord? {
        try await write { db in
            guard try db.tableExists("sweep_jobs"),
                  let member = try Row.fetchOne(db, sql: Self.membershipSQL + " WHERE j.job_id = ?", arguments: [jobID]).map(Self.membership),
                  let rule = member.prune, rule.rungs.contains(rung), member.pruningReleasedAtMs == nil else { return nil }
            if let existing = try Row.fetchOne(db, sql: "SELECT * FROM prune_decisions WHERE job_id = ? AND rung = ?",
                                               arguments: [jobID, rung]) {
                return Self.decision(existing)
            }
            guard let metric = SweepMetric(member.metric) else { return nil }
            let rows = try Row.fetchAll(db, sql: """
                SELECT jobs.name, evals.* FROM sweep_jobs j JOIN jobs ON jobs.id = j.job_id
                JOIN evals ON evals.job_id = j.job_id AND evals.step = ?
                WHERE j.sweep_id = ? ORDER BY j.position
                """, arguments: [rung, member.sweepID])
            var own: (String, Double?)?
            var siblings: [(job: String, value: Double)] = []
            for row in rows {
                let eval = try EvalRecord(row: row)
                let name: String = row["name"]
                if eval.jobID == jobID {
                    own = (name, metric.value(in: eval))
                } else if let value = metric.value(in: eval) {
                    siblings.append((name, value))
                }
            }
            guard let own else { return nil }
            let cohort = PruneCohort(job: own.0, value: own.1, siblings: siblings)
            let verdict = decide(cohort, rule)
            var figures: [[String: Any]] = []
            if let value = own.1 { figures.append(["job": own.0, "value": value]) }
            figures += siblings.map { ["job": $0.job, "value": $0.value] }
            let figuresJSON = String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self)
            let record = PruneDecisionRecord(jobID: jobID, rung: rung, goesOn: verdict.goesOn, value: own.1, rank: verdict.rank,
                                             cohort: verdict.cohort, kept: verdict.kept, figuresJSON: figuresJSON, atMs: now)
            try db.execute(sql: """
                INSERT INTO prune_decisions (job_id, rung, goes_on, value, rank, cohort, kept, figures_json, at_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [jobID, rung, verdict.goesOn, own.1, verdict.rank, verdict.cohort, verdict.kept, figuresJSON, now])
            return record
        }
    }

    /// The job was started again by hand (submitted, run) after it was pruned: it runs on, and
    /// pruning no longer applies to it. A no-op for a job that was never pruned, or no sweep's.
    /// Returns whether a pruning was released.
    @discardableResult
    public func releasePruning(jobID: Int64, now: Int64) async throws -> Bool {
        try await write { db in
            guard try db.tableExists("prune_decisions"),
                  try Bool.fetchOne(db, sql: "SELECT 1 FROM prune_decisions WHERE job_id = ? AND goes_on = 0 AND released_at_ms IS NULL",
                                    arguments: [jobID]) == true else { return false }
            try db.execute(sql: "UPDATE prune_decisions SET released_at_ms = ? WHERE job_id = ? AND goes_on = 0 AND released_at_ms IS NULL",
                           arguments: [now, jobID])
            try db.execute(sql: "UPDATE sweep_jobs SET pruning_released_at_ms = ? WHERE job_id = ?", arguments: [now, jobID])
            return true
        }
    }
}
