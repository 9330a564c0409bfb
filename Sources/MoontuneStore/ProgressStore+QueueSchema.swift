import GRDB

extension ProgressStore {
    /// Migration v6 (issue 13): the queue of `serve`.
    ///
    /// - `jobs.state` may be `queued`: SQLite cannot widen a CHECK constraint in place, so the
    ///   table is rebuilt (create, copy, drop, rename) with foreign keys checked at the end of the
    ///   migration; steps, checkpoints, evals, events and comparisons keep referring to `jobs(id)`.
    /// - `jobs.priority`, `jobs.queued_at_ms` (the queue's order), `jobs.submitted` (the job was
    ///   given to `serve`, which takes it again after a crash) and `jobs.stop_requested_at_ms`
    ///   (`moontune stop` of a job that `serve` runs: the daemon polls it).
    /// - `serve_daemons`: the daemons running against this database, so that `stop` can tell a
    ///   daemon's pid from a `run`'s.
    /// - `key_budgets`: the request budget in force per API key (by key id, a SHA-256 prefix;
    ///   never the key), written by `serve` for `status`.
    /// - `webhook_outbox`: notifications waiting to be delivered, at least once.
    static func registerQueueMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6: queue, priority, stop requests, webhook outbox", foreignKeyChecks: .deferred) { db in
            try db.execute(sql: """
                CREATE TABLE jobs_v6 (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    finetune_id TEXT,
                    config_path TEXT NOT NULL,
                    config_json TEXT NOT NULL,
                    fingerprint_json TEXT NOT NULL,
                    base_url TEXT NOT NULL,
                    api_key_env TEXT NOT NULL,
                    total_steps INTEGER NOT NULL CHECK (total_steps >= 1),
                    state TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'running', 'stopped', 'failed', 'completed')),
                    pid INTEGER,
                    host TEXT,
                    heartbeat_ms INTEGER,
                    started_at_ms INTEGER,
                    created_at_ms INTEGER NOT NULL,
                    updated_at_ms INTEGER NOT NULL,
                    last_error TEXT,
                    finetune_deleted_at_ms INTEGER,
                    waiting_json TEXT,
                    stop_reason TEXT,
                    retries_outside_steps INTEGER NOT NULL DEFAULT 0 CHECK (retries_outside_steps >= 0),
                    server_step INTEGER,
                    priority INTEGER NOT NULL DEFAULT 0,
                    queued_at_ms INTEGER,
                    submitted INTEGER NOT NULL DEFAULT 0 CHECK (submitted IN (0, 1)),
                    stop_requested_at_ms INTEGER
                );
                INSERT INTO jobs_v6 (id, name, finetune_id, config_path, config_json, fingerprint_json, base_url, api_key_env,
                                     total_steps, state, pid, host, heartbeat_ms, started_at_ms, created_at_ms, updated_at_ms,
                                     last_error, finetune_deleted_at_ms, waiting_json, stop_reason, retries_outside_steps,
                                     server_step)
                    SELECT id, name, finetune_id, config_path, config_json, fingerprint_json, base_url, api_key_env,
                           total_steps, state, pid, host, heartbeat_ms, started_at_ms, created_at_ms, updated_at_ms,
                           last_error, finetune_deleted_at_ms, waiting_json, stop_reason, retries_outside_steps, server_step
                    FROM jobs;
                DROP TABLE jobs;
                ALTER TABLE jobs_v6 RENAME TO jobs;
                CREATE INDEX jobs_by_queue ON jobs(state, priority, queued_at_ms);
                CREATE TABLE serve_daemons (
                    host TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    started_at_ms INTEGER NOT NULL,
                    heartbeat_ms INTEGER NOT NULL,
                    address TEXT,
                    PRIMARY KEY (host, pid)
                );
                CREATE TABLE key_budgets (
                    key_id TEXT PRIMARY KEY,
                    budget INTEGER NOT NULL CHECK (budget >= 1),
                    max_budget INTEGER NOT NULL CHECK (max_budget >= 1),
                    in_flight INTEGER NOT NULL DEFAULT 0,
                    held_until_ms INTEGER,
                    rate_limited INTEGER NOT NULL DEFAULT 0,
                    updated_at_ms INTEGER NOT NULL
                );
                CREATE TABLE webhook_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
                    url TEXT NOT NULL,
                    secret_env TEXT,
                    event TEXT NOT NULL,
                    body TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at_ms INTEGER NOT NULL,
                    delivered_at_ms INTEGER,
                    last_error TEXT,
                    created_at_ms INTEGER NOT NULL
                );
                CREATE INDEX webhook_outbox_due ON webhook_outbox(delivered_at_ms, next_attempt_at_ms);
                """)
        }
    }
}
