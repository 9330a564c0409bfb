import Foundation
import GRDB

/// One `moontune compare` run: which job and data it scored. Its rows are `ComparisonResultRecord`s.
public struct ComparisonRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "comparisons"
    public var id: Int64?
    /// The job, when the database has it (NULL once the job is removed).
    public var jobID: Int64?
    public var jobName: String
    public var finetuneID: String?
    /// Which examples were scored, for example `eval` or `train`, with the file's name.
    public var dataset: String
    /// How many examples each model answered.
    public var examples: Int
    /// The skills compared, as a JSON array, in column order.
    public var skillsJSON: String
    public var createdAtMs: Int64

    enum CodingKeys: String, CodingKey {
        case id, jobID = "job_id", jobName = "job_name", finetuneID = "finetune_id", dataset, examples
        case skillsJSON = "skills_json", createdAtMs = "created_at_ms"
    }

    public init(jobID: Int64?, jobName: String, finetuneID: String?, dataset: String, examples: Int, skills: [String],
                createdAtMs: Int64) {
        self.jobID = jobID
        self.jobName = jobName
        self.finetuneID = finetuneID
        self.dataset = dataset
        self.examples = examples
        self.skillsJSON = (try? JSONEncoder().encode(skills)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
        self.createdAtMs = createdAtMs
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// The skills, in column order.
    public var skills: [String] {
        (try? JSONDecoder().decode([String].self, from: Data(skillsJSON.utf8))) ?? []
    }
}

/// The mean reward of one model over some examples.
public struct SkillScore: Codable, Sendable, Equatable {
    public var mean: Double
    public var n: Int

    public init(mean: Double, n: Int) {
        self.mean = mean
        self.n = n
    }
}

/// One model's row of a comparison: its overall mean reward and its mean per skill.
public struct ComparisonResultRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "comparison_results"
    public var comparisonID: Int64
    /// The row's place in the table.
    public var position: Int
    /// `base`, or `step 40`.
    public var label: String
    /// The inference model string.
    public var model: String
    /// The checkpoint's step; nil for the base model.
    public var step: Int?
    public var rewardMean: Double
    public var count: Int
    /// `{"point": {"mean": 0.61, "n": 12}, ...}`.
    public var perSkillJSON: String

    enum CodingKeys: String, CodingKey {
        case comparisonID = "comparison_id", position, label, model, step, rewardMean = "reward_mean", count = "n"
        case perSkillJSON = "per_skill_json"
    }

    public init(position: Int, label: String, model: String, step: Int?, rewardMean: Double, count: Int,
                perSkill: [String: SkillScore]) {
        self.comparisonID = 0
        self.position = position
        self.label = label
        self.model = model
        self.step = step
        self.rewardMean = rewardMean
        self.count = count
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        self.perSkillJSON = (try? encoder.encode(perSkill)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public var perSkill: [String: SkillScore] {
        (try? JSONDecoder().decode([String: SkillScore].self, from: Data(perSkillJSON.utf8))) ?? [:]
    }
}

/// A recorded comparison with its rows, in table order.
public struct StoredComparison: Sendable, Equatable {
    public var comparison: ComparisonRecord
    public var results: [ComparisonResultRecord]
}

extension ProgressStore {
    /// Records a comparison and its rows in one transaction; returns its id.
    @discardableResult
    public func recordComparison(_ comparison: ComparisonRecord, results: [ComparisonResultRecord]) async throws -> Int64 {
        try await write { db in
            var comparison = comparison
            try comparison.insert(db)
            guard let id = comparison.id else { throw StoreError(path: "", message: "the comparison got no id") }
            for var result in results {
                result.comparisonID = id
                try result.insert(db)
            }
            return id
        }
    }

    /// A job's recorded comparisons, newest first. Empty for a database that predates them (opened
    /// read-only, it is not migrated).
    public func comparisons(jobName: String, limit: Int = 20) async throws -> [StoredComparison] {
        try await read { db in
            guard try db.tableExists(ComparisonRecord.databaseTableName) else { return [] }
            let comparisons = try ComparisonRecord.filter(Column("job_name") == jobName)
                .order(Column("id").desc).limit(limit).fetchAll(db)
            return try comparisons.map { comparison in
                let results = try ComparisonResultRecord.filter(Column("comparison_id") == comparison.id)
                    .order(Column("position")).fetchAll(db)
                return StoredComparison(comparison: comparison, results: results)
            }
        }
    }

    /// The most recent comparison of a job, if any.
    public func latestComparison(jobName: String) async throws -> StoredComparison? {
        try await comparisons(jobName: jobName, limit: 1).first
    }
}
