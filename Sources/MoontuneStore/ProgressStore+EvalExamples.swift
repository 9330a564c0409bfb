import GRDB

/// One eval example's outcome at one eval: what the model answered, what it earned, and what is
/// needed to draw it later without the dataset (the image's path, the ground truth).
///
/// The ground truth is stored with the outcome rather than re-read from the dataset: the dataset
/// file may be edited, moved or regenerated after the eval, and the gallery must draw what the
/// example was scored against. It is small (a few points or boxes, or a question and its
/// answers). The image is not stored, only its resolved path: images are large, and the report
/// shows a placeholder for one that is gone.
public struct EvalExampleRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "eval_examples"
    public var jobID: Int64
    /// The eval's step (0: the baseline before training).
    public var step: Int
    /// The example's `id` (or its line number when it has none).
    public var exampleID: String
    /// 0-based position of the example in the eval set.
    public var position: Int
    /// 1-based line of the example in the eval set's file.
    public var line: Int
    /// `point`, `detect` or `query`.
    public var skill: String
    public var reward: Double
    /// The decoded prediction as JSON: `{"points": [...]}`, `{"boxes": [...]}` or
    /// `{"answer": "..."}`; nil when the rollout carried no output of the skill's shape.
    public var predictionJSON: String?
    /// The image file, as resolved from the dataset line; nil for a query without an image.
    public var imagePath: String?
    /// What the example asked and expected, as JSON: `object` with `points` or `boxes` (point,
    /// detect), or `question` with `answers` (query).
    public var truthJSON: String

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", step, exampleID = "example_id", position, line, skill, reward
        case predictionJSON = "prediction_json", imagePath = "image_path", truthJSON = "truth_json"
    }

    public init(jobID: Int64, step: Int, exampleID: String, position: Int, line: Int, skill: String, reward: Double,
                predictionJSON: String?, imagePath: String?, truthJSON: String) {
        self.jobID = jobID
        self.step = step
        self.exampleID = exampleID
        self.position = position
        self.line = line
        self.skill = skill
        self.reward = reward
        self.predictionJSON = predictionJSON
        self.imagePath = imagePath
        self.truthJSON = truthJSON
    }
}

extension ProgressStore {
    /// v8: one row per eval example per eval. Its rows belong to their eval (a foreign key on
    /// `evals(job_id, step)`, ON DELETE CASCADE): whatever deletes an eval — a rewind, the job's
    /// deletion — deletes its examples with it.
    static func registerEvalExamplesMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8: eval examples") { db in
            try db.execute(sql: """
                CREATE TABLE eval_examples (
                    job_id INTEGER NOT NULL,
                    step INTEGER NOT NULL CHECK (step >= 0),
                    example_id TEXT NOT NULL,
                    position INTEGER NOT NULL CHECK (position >= 0),
                    line INTEGER NOT NULL,
                    skill TEXT NOT NULL CHECK (skill IN ('point', 'detect', 'query')),
                    reward REAL NOT NULL,
                    prediction_json TEXT,
                    image_path TEXT,
                    truth_json TEXT NOT NULL,
                    PRIMARY KEY (job_id, step, example_id),
                    FOREIGN KEY (job_id, step) REFERENCES evals(job_id, step) ON DELETE CASCADE
                );
                """)
        }
    }

    /// Records an eval and its examples in one transaction: the eval is recorded whole or not at
    /// all. Recording the same step again replaces both.
    public func recordEval(_ eval: EvalRecord, examples: [EvalExampleRecord]) async throws {
        try await write { db in
            try eval.upsert(db)
            try db.execute(sql: "DELETE FROM eval_examples WHERE job_id = ? AND step = ?", arguments: [eval.jobID, eval.step])
            for var example in examples {
                example.jobID = eval.jobID
                example.step = eval.step
                try example.insert(db, onConflict: .replace)
            }
        }
    }

    /// The examples of one eval, in eval-set order.
    public func evalExamples(jobID: Int64, step: Int) async throws -> [EvalExampleRecord] {
        try await read { db in
            try EvalExampleRecord.filter(Column("job_id") == jobID && Column("step") == step).order(Column("position")).fetchAll(db)
        }
    }

    /// The examples of the evals at `steps`, by step then eval-set order (an export reads a few
    /// evals at a time, so its memory does not grow with the job).
    public func evalExamples(jobID: Int64, steps: [Int]) async throws -> [EvalExampleRecord] {
        guard !steps.isEmpty else { return [] }
        return try await read { db in
            try EvalExampleRecord.filter(Column("job_id") == jobID && steps.contains(Column("step")))
                .order(Column("step"), Column("position")).fetchAll(db)
        }
    }

    /// How many example rows each eval has, by step.
    public func evalExampleCounts(jobID: Int64) async throws -> [Int: Int] {
        try await read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT step, count(*) FROM eval_examples WHERE job_id = ? GROUP BY step",
                                        arguments: [jobID])
            return Dictionary(uniqueKeysWithValues: rows.map { (row: Row) -> (Int, Int) in (row[0], row[1]) })
        }
    }

    /// The lr sent with each applied step that recorded one, in step order (the report's lr chart).
    public func lrSeries(jobID: Int64) async throws -> [(step: Int, lr: Double)] {
        try await read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT k, lr FROM steps WHERE job_id = ? AND state = 'applied' AND lr IS NOT NULL ORDER BY k",
                                           arguments: [jobID])
            var points: [(step: Int, lr: Double)] = []
            while let row = try rows.next() { points.append((row[0], row[1])) }
            return points
        }
    }
}
