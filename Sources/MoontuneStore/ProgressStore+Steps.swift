import GRDB

extension ProgressStore {
    /// Commits the intent to send train_step for step `k`, before it is sent. A crash from here
    /// on leaves the intent, and the next run asks the server whether the step landed.
    /// `groups`: the groups tried, kept and dropped (`train.skip_constant_groups`), kept when a
    /// later run reconciles the step without its figures.
    public func recordStepIntent(jobID: Int64, k: Int, exampleIDs: String, mode: StepMode = .rl, lr: Double? = nil,
                                 groups: StepFigures? = nil, now: Int64) async throws {
        try await write { db in
            try Self.checkNextStep(db, jobID: jobID, k: k, what: "intent for step \(k)")
            var record = StepRecord(jobID: jobID, k: k, state: .intent, exampleIDs: exampleIDs, intentAtMs: now, reconciled: false,
                                    retries: 0, mode: mode, lr: lr)
            (record.groupsTried, record.groupsKept, record.groupsDropped) = (groups?.groupsTried, groups?.groupsKept, groups?.groupsDropped)
            try record.insert(db)
        }
    }

    /// Marks step `k` applied, with its metrics, in the same transaction.
    public func markStepApplied(jobID: Int64, k: Int, metrics: StepMetrics, reconciled: Bool, now: Int64) async throws {
        try await write { db in
            guard var step = try StepRecord.fetchOne(db, key: ["job_id": jobID, "k": k]), step.state == .intent else {
                throw StoreError(path: "", message: "step \(k) has no recorded intent to mark applied")
            }
            step.state = .applied
            step.appliedAtMs = now
            step.reconciled = reconciled
            // The groups recorded with the intent stay when the figures have none (a step reconciled
            // by a later run, which did not gather it).
            let groups = (step.groupsTried, step.groupsKept, step.groupsDropped)
            step.figures = metrics.figures
            if metrics.groupsTried == nil { (step.groupsTried, step.groupsKept, step.groupsDropped) = groups }
            step.serverStep = metrics.serverStep
            step.train = metrics.train
            try step.update(db)
            try db.execute(sql: "UPDATE jobs SET updated_at_ms = ?, heartbeat_ms = ? WHERE id = ?", arguments: [now, now, jobID])
            if let serverStep = metrics.serverStep {
                try db.execute(sql: "UPDATE jobs SET server_step = ? WHERE id = ?", arguments: [serverStep, jobID])
            }
        }
    }

    /// Records step `k` skipped (`train.skip_constant_groups`: no group had signal, nothing was
    /// sent) with its figures, in one write: it is done, as an applied step is, and no intent
    /// precedes it since nothing goes to the server.
    public func recordSkippedStep(jobID: Int64, k: Int, exampleIDs: String, figures: StepFigures, now: Int64) async throws {
        try await write { db in
            try Self.checkNextStep(db, jobID: jobID, k: k, what: "skipped step \(k)")
            var record = StepRecord(jobID: jobID, k: k, state: .applied, exampleIDs: exampleIDs, intentAtMs: now, appliedAtMs: now,
                                    reconciled: false, retries: 0, mode: .rl)
            record.figures = figures
            record.skipped = true
            try record.insert(db)
            try db.execute(sql: "UPDATE jobs SET updated_at_ms = ?, heartbeat_ms = ? WHERE id = ?", arguments: [now, now, jobID])
        }
    }

    /// Step `k` may be recorded only right after the last applied one, with no intent pending.
    static func checkNextStep(_ db: Database, jobID: Int64, k: Int, what: String) throws {
        let last = try Int.fetchOne(db, sql: "SELECT max(k) FROM steps WHERE job_id = ? AND state = 'applied'", arguments: [jobID]) ?? 0
        let pending = try Int.fetchOne(db, sql: "SELECT k FROM steps WHERE job_id = ? AND state = 'intent'", arguments: [jobID])
        guard k == last + 1, pending == nil else {
            throw StoreError(path: "", message: "\(what) refused: last applied is \(last), pending intent \(pending.map(String.init) ?? "none")")
        }
    }

    /// The skipped steps (`train.skip_constant_groups`), in order.
    public func skippedSteps(jobID: Int64) async throws -> [Int] {
        try await read { db in
            try Int.fetchAll(db, sql: "SELECT k FROM steps WHERE job_id = ? AND state = 'applied' AND skipped = 1 ORDER BY k",
                             arguments: [jobID])
        }
    }

    /// Groups tried beyond `groupsPerStep` by the applied RL steps (the extra attempts of
    /// `train.skip_constant_groups`), for the rollout budget.
    public func extraGroupsTried(jobID: Int64, groupsPerStep: Int) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: """
                SELECT coalesce(sum(groups_tried - ?), 0) FROM steps
                WHERE job_id = ? AND state = 'applied' AND groups_tried > ?
                """, arguments: [groupsPerStep, jobID, groupsPerStep]) ?? 0
        }
    }

    /// Drops an intent that reconciliation proved never landed; the step runs again.
    public func discardStepIntent(jobID: Int64, k: Int) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM steps WHERE job_id = ? AND k = ? AND state = 'intent'", arguments: [jobID, k])
        }
    }

    /// Forgets every step after `step` (used only by an explicit rewind to the server's step).
    public func rewindSteps(jobID: Int64, after step: Int) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM steps WHERE job_id = ? AND k > ?", arguments: [jobID, step])
            let removed = db.changesCount
            try db.execute(sql: "DELETE FROM evals WHERE job_id = ? AND step > ?", arguments: [jobID, step])
            // The trackers' points after `step` are stale now: they deal with them before more.
            try Self.rewindTrackers(db, jobID: jobID, after: step)
            return removed
        }
    }

    /// The highest applied step (0 when none).
    public func lastAppliedStep(jobID: Int64) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: "SELECT max(k) FROM steps WHERE job_id = ? AND state = 'applied'", arguments: [jobID]) ?? 0
        }
    }

    /// The step whose train_step was sent (or about to be) but not yet known applied.
    public func pendingIntent(jobID: Int64) async throws -> StepRecord? {
        try await read { db in
            try StepRecord.filter(Column("job_id") == jobID && Column("state") == StepState.intent.rawValue).fetchOne(db)
        }
    }

    public func step(jobID: Int64, k: Int) async throws -> StepRecord? {
        try await read { db in try StepRecord.fetchOne(db, key: ["job_id": jobID, "k": k]) }
    }

    /// Steps in order, `limit` at a time from `after`.
    public func steps(jobID: Int64, after: Int = 0, limit: Int = 1_000_000) async throws -> [StepRecord] {
        try await read { db in
            try StepRecord.filter(Column("job_id") == jobID && Column("k") > after).order(Column("k")).limit(limit).fetchAll(db)
        }
    }

    /// The last `count` applied steps, oldest first.
    public func recentSteps(jobID: Int64, count: Int) async throws -> [StepRecord] {
        try await read { db in
            try StepRecord.filter(Column("job_id") == jobID && Column("state") == StepState.applied.rawValue)
                .order(Column("k").desc).limit(count).fetchAll(db).reversed()
        }
    }
}

extension ProgressStore {
    /// Records the finetune's step on the server as last seen (a train_step answer, a save).
    public func noteServerStep(jobID: Int64, step: Int) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE jobs SET server_step = ? WHERE id = ?", arguments: [step, jobID])
        }
    }

    /// The last applied step whose answer carried train_step's numbers.
    public func lastTrainedStep(jobID: Int64) async throws -> StepRecord? {
        try await read { db in
            try StepRecord.fetchOne(db, sql: """
                SELECT * FROM steps WHERE job_id = ? AND state = 'applied'
                  AND (kl IS NOT NULL OR grad_norm IS NOT NULL OR sft_loss IS NOT NULL OR router_kl IS NOT NULL
                       OR server_reward_mean IS NOT NULL OR server_reward_std IS NOT NULL)
                ORDER BY k DESC LIMIT 1
                """, arguments: [jobID])
        }
    }

    /// Retries over the whole job (the sum of every step's count).
    public func totalRetries(jobID: Int64) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: "SELECT coalesce(sum(retries), 0) FROM steps WHERE job_id = ?", arguments: [jobID]) ?? 0
        }
    }
}

/// `train.skip_constant_groups` over a whole job: what `status` shows.
public struct GroupSignalTotals: Codable, Sendable, Equatable {
    public var skippedSteps: Int
    public var groupsTried: Int
    public var groupsKept: Int
    public var groupsDropped: Int
    /// Steps that recorded their groups (RL steps with the setting on).
    public var steps: Int

    enum CodingKeys: String, CodingKey {
        case skippedSteps = "skipped_steps", groupsTried = "groups_tried", groupsKept = "groups_kept"
        case groupsDropped = "groups_dropped", steps
    }

    public init(skippedSteps: Int, groupsTried: Int, groupsKept: Int, groupsDropped: Int, steps: Int) {
        (self.skippedSteps, self.groupsTried, self.groupsKept) = (skippedSteps, groupsTried, groupsKept)
        (self.groupsDropped, self.steps) = (groupsDropped, steps)
    }

    /// Groups tried beyond each step's own batch of `groupsPerStep`.
    public func extraGroupsTried(groupsPerStep: Int) -> Int { max(0, groupsTried - steps * groupsPerStep) }

    /// One line for the human `status`.
    public var line: String {
        let percent = groupsTried > 0 ? Double(groupsDropped) / Double(groupsTried) * 100 : 0
        return "\(skippedSteps) step\(skippedSteps == 1 ? "" : "s") skipped (no group with signal), "
            + "\(groupsDropped) of \(groupsTried) groups dropped for equal rewards (" + String(format: "%.0f%%", percent) + ")"
    }
}

extension ProgressStore {
    /// The job's totals of `train.skip_constant_groups`; nil when no step recorded its groups.
    public func groupSignalTotals(jobID: Int64) async throws -> GroupSignalTotals? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT count(groups_tried), coalesce(sum(groups_tried), 0), coalesce(sum(groups_kept), 0),
                       coalesce(sum(groups_dropped), 0), coalesce(sum(skipped), 0)
                FROM steps WHERE job_id = ? AND state = 'applied' AND groups_tried IS NOT NULL
                """, arguments: [jobID]), let steps: Int = row[0], steps > 0 else { return nil }
            return GroupSignalTotals(skippedSteps: row[4], groupsTried: row[1], groupsKept: row[2], groupsDropped: row[3], steps: steps)
        }
    }
}
