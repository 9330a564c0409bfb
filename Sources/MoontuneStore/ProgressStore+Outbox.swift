import Foundation
import GRDB

/// One notification waiting in the outbox (migration v6), delivered at least once.
public struct OutboxEntry: Codable, Sendable, Equatable, FetchableRecord {
    public var id: Int64
    public var jobID: Int64?
    public var url: String
    /// The name of the environment variable holding the signing secret, not the secret.
    public var secretEnv: String?
    public var event: String
    public var body: String
    public var attempts: Int
    public var nextAttemptAtMs: Int64

    enum CodingKeys: String, CodingKey {
        case id, jobID = "job_id", url, secretEnv = "secret_env", event, body, attempts, nextAttemptAtMs = "next_attempt_at_ms"
    }
}

extension ProgressStore {
    /// Puts notifications in the outbox, in one transaction with nothing else: recording them never
    /// waits on their delivery.
    public func enqueueNotifications(jobID: Int64?, event: String, body: String, targets: [(url: String, secretEnv: String?)],
                                     now: Int64) async throws {
        guard !targets.isEmpty else { return }
        try await write { db in
            for target in targets {
                try db.execute(sql: """
                    INSERT INTO webhook_outbox (job_id, url, secret_env, event, body, next_attempt_at_ms, created_at_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [jobID, target.url, target.secretEnv, event, body, now, now])
            }
        }
    }

    /// Undelivered notifications due by `now`, oldest first.
    public func dueNotifications(now: Int64, limit: Int = 20) async throws -> [OutboxEntry] {
        try await read { db in
            try OutboxEntry.fetchAll(db, sql: """
                SELECT id, job_id, url, secret_env, event, body, attempts, next_attempt_at_ms FROM webhook_outbox
                WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= ? ORDER BY id LIMIT ?
                """, arguments: [now, limit])
        }
    }

    /// The job's notifications not delivered yet, due or not (`run` delivers its own before it exits).
    public func pendingNotifications(jobID: Int64) async throws -> [OutboxEntry] {
        try await read { db in
            try OutboxEntry.fetchAll(db, sql: """
                SELECT id, job_id, url, secret_env, event, body, attempts, next_attempt_at_ms FROM webhook_outbox
                WHERE delivered_at_ms IS NULL AND job_id = ? ORDER BY id
                """, arguments: [jobID])
        }
    }

    public func markNotificationDelivered(id: Int64, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE webhook_outbox SET delivered_at_ms = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                           arguments: [now, id])
        }
    }

    /// A failed attempt: tried again at `nextAttemptAtMs`.
    public func markNotificationFailed(id: Int64, error: String, nextAttemptAtMs: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at_ms = ? WHERE id = ?",
                           arguments: [error, nextAttemptAtMs, id])
        }
    }

    /// Notifications not yet delivered.
    public func pendingNotificationCount() async throws -> Int {
        try await read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM webhook_outbox WHERE delivered_at_ms IS NULL") ?? 0 }
    }
}
