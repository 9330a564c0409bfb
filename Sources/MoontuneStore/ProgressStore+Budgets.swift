import Foundation
import GRDB

/// The request budget `serve` holds for one API key, as last written. `keyID` is a short prefix
/// of the key's SHA-256: enough to tell keys apart, nothing to recover the key from.
public struct KeyBudgetRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "key_budgets"
    public var keyID: String
    /// The requests in flight allowed right now (AIMD: lowered by 429s, raised by successes).
    public var budget: Int
    /// The ceiling: `serve --max-in-flight`.
    public var maxBudget: Int
    public var inFlight: Int
    /// Until when a Retry-After holds every job on the key back; nil when not held.
    public var heldUntilMs: Int64?
    /// 429 answers seen on this key.
    public var rateLimited: Int
    public var updatedAtMs: Int64

    public init(keyID: String, budget: Int, maxBudget: Int, inFlight: Int, heldUntilMs: Int64?, rateLimited: Int, updatedAtMs: Int64) {
        self.keyID = keyID
        self.budget = budget
        self.maxBudget = maxBudget
        self.inFlight = inFlight
        self.heldUntilMs = heldUntilMs
        self.rateLimited = rateLimited
        self.updatedAtMs = updatedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case keyID = "key_id", budget, maxBudget = "max_budget", inFlight = "in_flight", heldUntilMs = "held_until_ms"
        case rateLimited = "rate_limited", updatedAtMs = "updated_at_ms"
    }
}

extension ProgressStore {
    /// Replaces the recorded budgets with `budgets` (the daemon's, about once a second).
    public func recordKeyBudgets(_ budgets: [KeyBudgetRecord]) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM key_budgets")
            for budget in budgets { try budget.insert(db) }
        }
    }

    /// The budgets in force, as `serve` last wrote them (none before v6, or without a daemon).
    public func keyBudgets() async throws -> [KeyBudgetRecord] {
        try await read { db in
            guard try db.tableExists("key_budgets") else { return [] }
            return try KeyBudgetRecord.order(Column("key_id")).fetchAll(db)
        }
    }
}
