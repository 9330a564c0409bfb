import Foundation
import GRDB

/// A synthetic history of finished jobs, for the benchmark (`moontune bench-history`) and the
/// tests that check that a daemon's pages cost the same however long its history (issue 21).
/// Written in one transaction: `jobs` completed jobs of `steps` applied steps each, with an eval
/// and a checkpoint every `every` steps and a few events. Nothing here is a real run.
extension ProgressStore {
    package func writeSyntheticHistory(jobs: Int, steps: Int, every: Int = 10, namePrefix: String = "history",
                                       now: Int64 = ProgressStore.nowMs()) async throws {
        try await write { db in
            let existing = try Int.fetchOne(db, sql: "SELECT count(*) FROM jobs WHERE name LIKE ?", arguments: ["\(namePrefix)-%"]) ?? 0
            for index in 0..<jobs {
                let started = now - Int64(jobs - index) * 3_600_000
                var job = JobRecord(name: "\(namePrefix)-\(existing + index + 1)", configPath: "/synthetic/config.json",
                                    configJSON: "{}", fingerprintJSON: "{}", baseURL: "http://127.0.0.1:9/v1",
                                    apiKeyEnv: "MOONDREAM_API_KEY", totalSteps: steps, now: started)
                job.state = .completed
                job.finetuneID = String(format: "01SYNTHETIC%015d", existing + index + 1)
                job.startedAtMs = started
                job.updatedAtMs = started + Int64(steps) * 1000
                job.heartbeatMs = job.updatedAtMs
                try job.insert(db)
                guard let id = job.id else { continue }
                for k in 1...max(1, steps) {
                    let at = started + Int64(k) * 1000
                    let reward = min(1, 0.1 + Double(k) / Double(max(1, steps)) * 0.6)
                    try db.cachedStatement(sql: """
                        INSERT INTO steps (job_id, k, state, example_ids, intent_at_ms, applied_at_ms, reward_mean, reward_std,
                                           reward_min, reward_max, constant_group_fraction, rollout_latency_ms, train_latency_ms, wall_ms, lr)
                        VALUES (?, ?, 'applied', '["a","b"]', ?, ?, ?, 0.2, 0, 1, 0.1, 120, 300, 1000, 0.002)
                        """).execute(arguments: [id, k, at - 500, at, reward])
                    if k % every == 0 || k == steps {
                        try db.cachedStatement(sql: "INSERT INTO checkpoints (job_id, step, checkpoint_id, kind, saved_at_ms) VALUES (?, ?, ?, ?, ?)")
                            .execute(arguments: [id, k, "ck-\(id)-\(k)", k == steps ? "final" : "cadence", at])
                        try db.cachedStatement(sql: "INSERT INTO evals (job_id, step, reward_mean, n, per_skill_json, at_ms) VALUES (?, ?, ?, 10, '{}', ?)")
                            .execute(arguments: [id, k, reward, at])
                    }
                }
                for (kind, message) in [("started", "started"), ("completed", "completed at step \(steps)")] {
                    try db.execute(sql: "INSERT INTO events (job_id, at_ms, kind, step, message) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [id, started, kind, kind == "started" ? 0 : steps, message])
                }
            }
        }
    }
}
