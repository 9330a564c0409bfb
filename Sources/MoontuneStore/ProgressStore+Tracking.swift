import GRDB

/// How far one tracker (TensorBoard, MLflow) of a job has been delivered (migration v11).
///
/// The points themselves are not copied: they are derived from the record (applied steps, evals,
/// checkpoints), and these marks say which of them the tracker has. A mark moves only after the
/// tracker holds what it covers; what the tracker may hold beyond a mark (a crash between the
/// write and the mark) is read back from the tracker before anything is sent again.
public struct TrackerState: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tracking_state"
    public var jobID: Int64
    /// `tensorboard` or `mlflow`.
    public var tracker: String
    /// Where it goes (the job's event folder; the server and experiment): a new target starts over.
    public var target: String
    /// The last applied step delivered, and every one before it.
    public var stepsThrough: Int = 0
    /// The step of the last eval delivered (-1: none).
    public var evalsThrough: Int = -1
    /// The step of the last checkpoint delivered (as a tag).
    public var checkpointsThrough: Int = 0
    /// The run's one-time parts (the config as text or params, the finetune id) are delivered.
    public var setupDone: Bool = false
    /// MLflow: a key chosen before the run is created and set as its tag, so that a crash between
    /// creating the run and recording its id finds the run again instead of creating another.
    public var runKey: String?
    public var runID: String?
    public var experimentID: String?
    /// The job's end last delivered (`completed`, `failed`, `stopped`); nil while it runs.
    public var endedState: String?
    public var lastError: String?
    public var lastErrorAtMs: Int64?
    public var updatedAtMs: Int64

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", tracker, target, stepsThrough = "steps_through", evalsThrough = "evals_through"
        case checkpointsThrough = "checkpoints_through", setupDone = "setup_done", runKey = "run_key", runID = "run_id"
        case experimentID = "experiment_id", endedState = "ended_state", lastError = "last_error"
        case lastErrorAtMs = "last_error_at_ms", updatedAtMs = "updated_at_ms"
    }

    public init(jobID: Int64, tracker: String, target: String, now: Int64) {
        self.jobID = jobID
        self.tracker = tracker
        self.target = target
        self.updatedAtMs = now
    }
}

/// A tracker as `status` shows it: what it has not received yet, and why, if it failed.
public struct TrackerStatus: Codable, Sendable, Equatable {
    public var tracker: String
    public var target: String
    /// Points (applied steps, evals, checkpoints) recorded but not yet delivered.
    public var backlog: Int
    public var deliveredThroughStep: Int
    public var lastError: String?
    public var lastErrorAtMs: Int64?
    public var runID: String?

    enum CodingKeys: String, CodingKey {
        case tracker, target, backlog, deliveredThroughStep = "delivered_through_step", lastError = "last_error"
        case lastErrorAtMs = "last_error_at_ms", runID = "run_id"
    }

    /// Every field is written, `null` when unknown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tracker, forKey: .tracker)
        try container.encode(target, forKey: .target)
        try container.encode(backlog, forKey: .backlog)
        try container.encode(deliveredThroughStep, forKey: .deliveredThroughStep)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(lastErrorAtMs, forKey: .lastErrorAtMs)
        try container.encode(runID, forKey: .runID)
    }
}

extension ProgressStore {
    // MARK: - v11 (issue 23): tracking outbox

    static func registerTrackingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v11: tracking outbox") { db in
            try db.execute(sql: """
                CREATE TABLE tracking_state (
                    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    tracker TEXT NOT NULL CHECK (tracker IN ('tensorboard', 'mlflow')),
                    target TEXT NOT NULL,
                    steps_through INTEGER NOT NULL DEFAULT 0 CHECK (steps_through >= 0),
                    evals_through INTEGER NOT NULL DEFAULT -1 CHECK (evals_through >= -1),
                    checkpoints_through INTEGER NOT NULL DEFAULT 0 CHECK (checkpoints_through >= 0),
                    setup_done INTEGER NOT NULL DEFAULT 0 CHECK (setup_done IN (0, 1)),
                    run_key TEXT,
                    run_id TEXT,
                    experiment_id TEXT,
                    ended_state TEXT,
                    last_error TEXT,
                    last_error_at_ms INTEGER,
                    updated_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (job_id, tracker)
                )
                """)
        }
    }

    /// The tracker's marks for the job, created (or started over, for a new target) when needed.
    public func trackerState(jobID: Int64, tracker: String, target: String, now: Int64) async throws -> TrackerState {
        try await write { db in
            if let existing = try TrackerState.fetchOne(db, key: ["job_id": jobID, "tracker": tracker]), existing.target == target {
                return existing
            }
            let fresh = TrackerState(jobID: jobID, tracker: tracker, target: target, now: now)
            try fresh.save(db)
            return fresh
        }
    }

    /// Records how far the tracker has been delivered (and its run), clearing its last error.
    public func saveTrackerState(_ state: TrackerState) async throws {
        try await write { db in try state.save(db) }
    }

    /// Records a failed delivery; the marks stay.
    public func recordTrackerError(jobID: Int64, tracker: String, error: String?, now: Int64) async throws {
        try await write { db in
            try db.execute(sql: """
                UPDATE tracking_state SET last_error = ?, last_error_at_ms = CASE WHEN ? IS NULL THEN last_error_at_ms ELSE ? END,
                                          updated_at_ms = ? WHERE job_id = ? AND tracker = ?
                """, arguments: [error, error, now, now, jobID, tracker])
        }
    }

    /// Each tracker of the job with its backlog, for `status` (none before v11 or without tracking).
    public func trackerStatuses(jobID: Int64) async throws -> [TrackerStatus] {
        try await read { db in
            guard try db.tableExists("tracking_state") else { return [] }
            let states = try TrackerState.filter(Column("job_id") == jobID).order(Column("tracker")).fetchAll(db)
            return try states.map { state in
                let steps = try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE job_id = ? AND state = 'applied' AND k > ?",
                                             arguments: [jobID, state.stepsThrough]) ?? 0
                let evals = try Int.fetchOne(db, sql: "SELECT count(*) FROM evals WHERE job_id = ? AND step > ?",
                                             arguments: [jobID, state.evalsThrough]) ?? 0
                let checkpoints = state.tracker == "mlflow"
                    ? try Int.fetchOne(db, sql: "SELECT count(*) FROM checkpoints WHERE job_id = ? AND step > ?",
                                       arguments: [jobID, state.checkpointsThrough]) ?? 0
                    : 0
                return TrackerStatus(tracker: state.tracker, target: state.target, backlog: steps + evals + checkpoints,
                                     deliveredThroughStep: state.stepsThrough, lastError: state.lastError,
                                     lastErrorAtMs: state.lastErrorAtMs, runID: state.runID)
            }
        }
    }

    /// The job's tracker marks as recorded (none before v11).
    public func trackerStates(jobID: Int64) async throws -> [TrackerState] {
        try await read { db in
            guard try db.tableExists("tracking_state") else { return [] }
            return try TrackerState.filter(Column("job_id") == jobID).fetchAll(db)
        }
    }

    /// Rollout groups the applied RL steps through `step` asked for (SFT steps ask for none).
    public func rolloutGroups(jobID: Int64, through step: Int, groupsPerStep: Int) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: """
                SELECT coalesce(sum(CASE WHEN mode = 'sft' THEN 0 ELSE coalesce(groups_tried, ?) END), 0) FROM steps
                WHERE job_id = ? AND state = 'applied' AND k <= ?
                """, arguments: [groupsPerStep, jobID, step]) ?? 0
        }
    }
}
