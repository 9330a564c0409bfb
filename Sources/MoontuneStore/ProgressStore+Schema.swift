import GRDB

extension ProgressStore {
    /// Versioned migrations. Each is written once and never edited after it ships; changes come
    /// as new migrations.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: jobs, steps, checkpoints, evals, events") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    finetune_id TEXT,
                    config_path TEXT NOT NULL,
                    config_json TEXT NOT NULL,
                    fingerprint_json TEXT NOT NULL,
                    base_url TEXT NOT NULL,
                    api_key_env TEXT NOT NULL,
                    total_steps INTEGER NOT NULL CHECK (total_steps >= 1),
                    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'stopped', 'failed', 'completed')),
                    pid INTEGER,
                    host TEXT,
                    heartbeat_ms INTEGER,
                    started_at_ms INTEGER,
                    created_at_ms INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL,
                    last_error TEXT,
                    finetune_deleted_at_ms INTEGER
                );
                CREATE TABLE steps (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    k INTEGER NOT NULL CHECK (k >= 1),
                    state TEXT NOT NULL CHECK (state IN ('intent', 'applied')),
                    example_ids TEXT NOT NULL,
                    intent_at_ms INTEGER NOT NULL,
                    applied_at_ms INTEGER,
                    reconciled INTEGER NOT NULL DEFAULT 0,
                    reward_mean REAL, reward_std REAL, reward_min REAL, reward_max REAL,
                    constant_group_fraction REAL,
                    rollout_latency_ms REAL, train_latency_ms REAL, wall_ms REAL,
                    retries INTEGER NOT NULL DEFAULT 0,
                    metrics_json TEXT,
                    PRIMARY KEY (job_id, k),
                    CHECK ((state = 'applied') = (applied_at_ms IS NOT NULL))
                );
                CREATE TABLE checkpoints (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL CHECK (step >= 1),
                    checkpoint_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('cadence', 'final', 'reconcile')),
                    saved_at_ms INTEGER NOT NULL,
                    deleting_at_ms INTEGER,
                    deleted_at_ms INTEGER,
                    PRIMARY KEY (job_id, step)
                );
                CREATE TABLE evals (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL CHECK (step >= 0),
                    reward_mean REAL NOT NULL,
                    n INTEGER NOT NULL,
                    per_skill_json TEXT NOT NULL,
                    at_ms INTEGER NOT NULL,
                    PRIMARY KEY (job_id, step)
                );
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    at_ms INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    step INTEGER,
                    message TEXT NOT NULL,
                    data_json TEXT
                );
                CREATE INDEX events_by_job ON events(job_id, id);
                """)
        }
        migrator.registerMigration("v2: comparisons") { db in
            // One `moontune compare` run, and one row per model it scored. job_id is kept when the
            // job is known, and set NULL (the comparison stays) if the job is ever removed.
            try db.execute(sql: """
                CREATE TABLE comparisons (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
                    job_name TEXT NOT NULL,
                    finetune_id TEXT,
                    dataset TEXT NOT NULL,
                    examples INTEGER NOT NULL CHECK (examples >= 0),
                    skills_json TEXT NOT NULL,
                    created_at_ms INTEGER NOT NULL
                );
                CREATE INDEX comparisons_by_job ON comparisons(job_name, id);
                CREATE TABLE comparison_results (
                    comparison_id INTEGER NOT NULL REFERENCES comparisons(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL CHECK (position >= 0),
                    label TEXT NOT NULL,
                    model TEXT NOT NULL,
                    step INTEGER,
                    reward_mean REAL NOT NULL,
                    n INTEGER NOT NULL CHECK (n >= 0),
                    per_skill_json TEXT NOT NULL,
                    PRIMARY KEY (comparison_id, position)
                );
                """)
        }
        // The step numbers and figures `status` and the loop read, by job and state, so that
        // neither scans a long job's steps (with their metrics JSON) row by row: the last applied
        // step, the pending intent, the series and the retry total come from this index alone.
        migrator.registerMigration("v3: steps indexed by state, covering what status reads") { db in
            try db.execute(sql: """
                CREATE INDEX steps_by_state ON steps(job_id, state, k, applied_at_ms, reward_mean, reward_std,
                                                     constant_group_fraction, wall_ms, retries)
                """)
        }
        // What the runner is waiting on the API for (a JSON object, NULL when it is not waiting),
        // why the last run stopped, and the retries made outside any recorded step (preparation,
        // checkpoints, evals, abandoned steps), which `status` adds to the steps' own.
        migrator.registerMigration("v4: waits on jobs") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN waiting_json TEXT;
                ALTER TABLE jobs ADD COLUMN stop_reason TEXT;
                ALTER TABLE jobs ADD COLUMN retries_outside_steps INTEGER NOT NULL DEFAULT 0 CHECK (retries_outside_steps >= 0);
                """)
        }
        // The live service's answers: train_step's numbers and the server's step with each step,
        // the lr sent, whether a step was RL or SFT, the finetune's step as last known, and when a
        // checkpoint expires.
        migrator.registerMigration("v5: live service answers") { db in
            try db.execute(sql: """
                ALTER TABLE steps ADD COLUMN mode TEXT CHECK (mode IN ('rl', 'sft'));
                ALTER TABLE steps ADD COLUMN lr REAL;
                ALTER TABLE steps ADD COLUMN server_step INTEGER;
                ALTER TABLE steps ADD COLUMN kl REAL;
                ALTER TABLE steps ADD COLUMN router_kl REAL;
                ALTER TABLE steps ADD COLUMN grad_norm REAL;
                ALTER TABLE steps ADD COLUMN sft_loss REAL;
                ALTER TABLE steps ADD COLUMN server_reward_mean REAL;
                ALTER TABLE steps ADD COLUMN server_reward_std REAL;
                ALTER TABLE checkpoints ADD COLUMN expires_at_ms INTEGER;
                ALTER TABLE jobs ADD COLUMN server_step INTEGER;
                """)
        }
        registerQueueMigration(&migrator)  // v6 (issue 13): ProgressStore+QueueSchema.swift
        // The running time a job has spent, over all its runs (for `budget.max_hours`): a run
        // that ends adds its time; one that died adds it up to its last heartbeat when the next
        // run starts.
        migrator.registerMigration("v7: running time") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN running_ms INTEGER DEFAULT 0 CHECK (running_ms >= 0)")
        }

        // ---- v8 (issue 14, evals you can look at): ProgressStore+EvalExamples.swift ----
        registerEvalExamplesMigration(&migrator)
        // ---- end of v8 ----
        registerSignalMigration(&migrator)  // v9 (issue 14)
        registerGraderScoresMigration(&migrator)  // v10 (issue 24): ProgressStore+GraderScores.swift
        registerTrackingMigration(&migrator)  // v11 (issue 23): ProgressStore+Tracking.swift
        registerKeyPaceMigration(&migrator)  // v12 (issue 22): ProgressStore+KeyPace.swift
        registerLateLandingMigration(&migrator)  // v13 (issue 20): ProgressStore+LateLanding.swift
        // v14 (issue 21): the config as admitted, which every later run reads instead of the file.
        migrator.registerMigration("v14: admitted config") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN config_text TEXT")
        }
        registerSweepsMigration(&migrator)  // v15 (issue 25): ProgressStore+Sweeps.swift
        registerTrackingFailureMigration(&migrator)  // v16: ProgressStore+Tracking.swift
        registerEvalGraderMeansMigration(&migrator)  // v17 (issue 24): ProgressStore+GraderScores.swift; keep it last
        return migrator
    }
}

extension ProgressStore {
    // MARK: - v9 (issue 14): group signal and answer lengths

    /// `train.skip_constant_groups` and the rollouts' answers: per step, the groups tried, kept
    /// (sent to train_step) and dropped (equal rewards), whether the step was skipped (no group
    /// with signal: nothing sent, the server's step unchanged), the mean answer length and the
    /// truncation rate; per checkpoint, the server's step when it differs from moontune's.
    static func registerSignalMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9: group signal and answer lengths") { db in
            try db.execute(sql: """
                ALTER TABLE steps ADD COLUMN groups_tried INTEGER CHECK (groups_tried >= 0);
                ALTER TABLE steps ADD COLUMN groups_kept INTEGER CHECK (groups_kept >= 0);
                ALTER TABLE steps ADD COLUMN groups_dropped INTEGER CHECK (groups_dropped >= 0);
                ALTER TABLE steps ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0 CHECK (skipped IN (0, 1));
                ALTER TABLE steps ADD COLUMN answer_length_mean REAL;
                ALTER TABLE steps ADD COLUMN truncation_rate REAL;
                ALTER TABLE checkpoints ADD COLUMN server_step INTEGER;
                """)
        }
    }
}
