import GRDB

/// The per-step figures that charts and sparklines need, without the rest of the step record.
public struct StepPoint: Codable, Sendable, Equatable, FetchableRecord {
    public var k: Int
    public var appliedAtMs: Int64?
    public var rewardMean: Double?
    public var rewardStd: Double?
    public var constantGroupFraction: Double?
    public var wallMs: Double?

    enum CodingKeys: String, CodingKey {
        case k, appliedAtMs = "applied_at_ms", rewardMean = "reward_mean", rewardStd = "reward_std"
        case constantGroupFraction = "constant_group_fraction", wallMs = "wall_ms"
    }

    public init(k: Int, appliedAtMs: Int64? = nil, rewardMean: Double? = nil, rewardStd: Double? = nil,
                constantGroupFraction: Double? = nil, wallMs: Double? = nil) {
        self.k = k
        self.appliedAtMs = appliedAtMs
        self.rewardMean = rewardMean
        self.rewardStd = rewardStd
        self.constantGroupFraction = constantGroupFraction
        self.wallMs = wallMs
    }
}

extension ProgressStore {
    /// Every applied step's headline figures, in step order. A few numbers per step, so even a
    /// long job's series stays small; the JSON metrics are not read.
    ///
    /// Rows are read by column position, not through `Decodable`: at 100,000 steps the keyed
    /// decoding alone took 300 ms, most of `status`'s time.
    public func stepSeries(jobID: Int64) async throws -> [StepPoint] {
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT k, applied_at_ms, reward_mean, reward_std, constant_group_fraction, wall_ms
                FROM steps WHERE job_id = ? AND state = 'applied' ORDER BY k
                """, arguments: [jobID])
            var points: [StepPoint] = []
            while let row = try rows.next() {
                points.append(StepPoint(k: row[0], appliedAtMs: row[1], rewardMean: row[2], rewardStd: row[3],
                                        constantGroupFraction: row[4], wallMs: row[5]))
            }
            return points
        }
    }

    /// Applied steps in order, `limit` at a time after step `after`: for streaming exports.
    public func appliedSteps(jobID: Int64, after: Int, limit: Int) async throws -> [StepRecord] {
        try await read { db in
            try StepRecord.filter(Column("job_id") == jobID && Column("state") == StepState.applied.rawValue && Column("k") > after)
                .order(Column("k")).limit(limit).fetchAll(db)
        }
    }
}
