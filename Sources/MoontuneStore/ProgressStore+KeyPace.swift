import Foundation
import GRDB

/// The pace in force on one API key, as the process that paces it last wrote it (issue 22):
/// `serve` for every key its jobs use, `run` for its own. `keyID` is a short prefix of the key's
/// SHA-256, never the key.
public struct KeyPaceRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "key_paces"
    /// `serve`, or `run <job name>`.
    public var source: String
    public var keyID: String
    /// Requests a second in force; nil: unpaced (no 429 yet, no stated limit).
    public var pacePerSecond: Double?
    /// `api.max_requests_per_s` when a job stated it.
    public var ceilingPerSecond: Double?
    /// Until when a Retry-After holds the key; nil when not held.
    public var heldUntilMs: Int64?
    /// Answers 429, and answers otherwise, since the process started.
    public var rateLimited: Int
    public var accepted: Int
    public var updatedAtMs: Int64

    public init(source: String, keyID: String, pacePerSecond: Double?, ceilingPerSecond: Double?, heldUntilMs: Int64?,
                rateLimited: Int, accepted: Int, updatedAtMs: Int64) {
        self.source = source
        self.keyID = keyID
        self.pacePerSecond = pacePerSecond
        self.ceilingPerSecond = ceilingPerSecond
        self.heldUntilMs = heldUntilMs
        self.rateLimited = rateLimited
        self.accepted = accepted
        self.updatedAtMs = updatedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case source, keyID = "key_id", pacePerSecond = "pace_per_s", ceilingPerSecond = "ceiling_per_s"
        case heldUntilMs = "held_until_ms", rateLimited = "rate_limited", accepted, updatedAtMs = "updated_at_ms"
    }
}

extension ProgressStore {
    /// v12 (issue 22): the pace per key, beside serve's `key_budgets`.
    static func registerKeyPaceMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v12: key pace") { db in
            try db.execute(sql: """
                CREATE TABLE key_paces (
                    source TEXT NOT NULL,
                    key_id TEXT NOT NULL,
                    pace_per_s REAL CHECK (pace_per_s > 0),
                    ceiling_per_s REAL CHECK (ceiling_per_s > 0),
                    held_until_ms INTEGER,
                    rate_limited INTEGER NOT NULL DEFAULT 0 CHECK (rate_limited >= 0),
                    accepted INTEGER NOT NULL DEFAULT 0 CHECK (accepted >= 0),
                    updated_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (source, key_id)
                );
                """)
        }
    }

    /// Replaces the paces `source` wrote with `paces` (about once a second while it runs).
    public func recordKeyPaces(_ paces: [KeyPaceRecord], source: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM key_paces WHERE source = ?", arguments: [source])
            for var pace in paces {
                pace.source = source
                try pace.insert(db)
            }
        }
    }

    /// Every pace written, by key id then source (none before v12).
    public func keyPaces() async throws -> [KeyPaceRecord] {
        try await read { db in
            guard try db.tableExists("key_paces") else { return [] }
            return try KeyPaceRecord.order(Column("key_id"), Column("source")).fetchAll(db)
        }
    }
}
