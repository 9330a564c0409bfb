import GRDB

extension ProgressStore {
    /// Commits the intent to send train_step for step `k`, before it is sent. A crash from here
    /// on leaves the intent, and the next run asks the server whether the step landed.
    public func recordStepIntent(jobID: Int64, k: Int, exampleIDs: String, mode: StepMode = .rl, lr: Double? = nil,
                                 now: Int64) async throws {
        try await write { db in
            let last = try Int.fetchOne(db, sql: "SELECT max(k) FROM steps WHERE job_id = ? AND state = 'applied'",
                                        arguments: [jobID]) ?? 0
            let pending = try Int.fetchOne(db, sql: "SELECT k FROM steps WHERE job_id = ? AND state = 'intent'", arguments: [jobID])
            guard k == last + 1, pending == nil else {
                throw StoreError(path: "", message: "intent for step \(k) refused: last applied is \(last), pending intent \(pending.map(String.init) ?? "none")")
            }
            try StepRecord(jobID: jobID, k: k, state: .intent, exampleIDs: exampleIDs, intentAtMs: now, reconciled: false,
                           retries: 0, mode: mode, lr: lr).insert(db)
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
            step.rewardMean = metrics.rewardMean
            step.rewardStd = metrics.rewardStd
            step.rewardMin = metrics.rewardMin
            step.rewardMax = metrics.rewardMax
            step.constantGroupFraction = metrics.constantGroupFraction
            step.rolloutLatencyMs = metrics.rolloutLatencyMs
            step.trainLatencyMs = metrics.trainLatencyMs
            step.wallMs = metrics.wallMs
            step.retries = metrics.retries
            step.metricsJSON = metrics.json
            step.serverStep = metrics.serverStep
            step.train = metrics.train
            try step.update(db)
            try db.execute(sql: "UPDATE jobs SET updated_at_ms = ?, heartbeat_ms = ? WHERE id = ?", arguments: [now, now, jobID])
            if let serverStep = metrics.serverStep {
                try db.execute(sql: "UPDATE jobs SET server_step = ? WHERE id = ?", arguments: [serverStep, jobID])
            }
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
