import GRDB

extension ProgressStore {
    public func recordEvent(jobID: Int64, kind: String, step: Int?, message: String, dataJSON: String? = nil, now: Int64) async throws {
        try await write { db in
            var event = EventRecord(jobID: jobID, atMs: now, kind: kind, step: step, message: message, dataJSON: dataJSON)
            try event.insert(db)
        }
    }

    /// The most recent events, newest last.
    public func events(jobID: Int64, limit: Int = 50, kinds: [String]? = nil) async throws -> [EventRecord] {
        try await read { db in
            var request = EventRecord.filter(Column("job_id") == jobID)
            if let kinds { request = request.filter(kinds.contains(Column("kind"))) }
            return try request.order(Column("id").desc).limit(limit).fetchAll(db).reversed()
        }
    }

    /// How many events of each kind a job has.
    public func eventCounts(jobID: Int64) async throws -> [String: Int] {
        try await read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT kind, count(*) AS n FROM events WHERE job_id = ? GROUP BY kind", arguments: [jobID]) {
                counts[row["kind"]] = row["n"]
            }
            return counts
        }
    }
}
