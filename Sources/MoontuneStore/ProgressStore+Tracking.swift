import Foundation
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
    /// v16: the tracker refused for good (an MLflow 4xx such as a bad token or experiment name);
    /// nothing more is sent to it this run. The job's next run tries again from the marks.
    public var failure: TrackerFailure?
    /// v16: how many rewinds (`run --rewind-to-server`) the job has had since tracking began, and
    /// the lowest step the pending ones went back to. Written only by `rewindSteps`.
    public var rewinds: Int = 0
    public var rewoundTo: Int?
    /// v16: the rewinds the tracker has dealt with (its stale points taken back or superseded);
    /// while fewer than `rewinds`, the tracker's points after `rewoundTo` are stale.
    public var rewindsApplied: Int = 0

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", tracker, target, stepsThrough = "steps_through", evalsThrough = "evals_through"
        case checkpointsThrough = "checkpoints_through", setupDone = "setup_done", runKey = "run_key", runID = "run_id"
        case experimentID = "experiment_id", endedState = "ended_state", lastError = "last_error"
        case lastErrorAtMs = "last_error_at_ms", updatedAtMs = "updated_at_ms", failure
        case rewinds, rewoundTo = "rewound_to", rewindsApplied = "rewinds_applied"
    }

    /// A rewind is recorded that the tracker has not dealt with yet.
    public var rewindPending: Bool { rewindsApplied < rewinds }

    public init(jobID: Int64, tracker: String, target: String, now: Int64) {
        self.jobID = jobID
        self.tracker = tracker
        self.target = target
        self.updatedAtMs = now
    }

    /// The v16 columns are optional to read: `status` opens a database read-only, unmigrated.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        jobID = try container.decode(Int64.self, forKey: .jobID)
        tracker = try container.decode(String.self, forKey: .tracker)
        target = try container.decode(String.self, forKey: .target)
        stepsThrough = try container.decode(Int.self, forKey: .stepsThrough)
        evalsThrough = try container.decode(Int.self, forKey: .evalsThrough)
        checkpointsThrough = try container.decode(Int.self, forKey: .checkpointsThrough)
        setupDone = try container.decode(Bool.self, forKey: .setupDone)
        runKey = try container.decodeIfPresent(String.self, forKey: .runKey)
        runID = try container.decodeIfPresent(String.self, forKey: .runID)
        experimentID = try container.decodeIfPresent(String.self, forKey: .experimentID)
        endedState = try container.decodeIfPresent(String.self, forKey: .endedState)
        lastError = try container.decodeIfPresent(String.self, forKey: .lastError)
        lastErrorAtMs = try container.decodeIfPresent(Int64.self, forKey: .lastErrorAtMs)
        updatedAtMs = try container.decode(Int64.self, forKey: .updatedAtMs)
        failure = try container.decodeIfPresent(String.self, forKey: .failure)
            .flatMap { try? JSONDecoder().decode(TrackerFailure.self, from: Data($0.utf8)) }
        rewinds = try container.decodeIfPresent(Int.self, forKey: .rewinds) ?? 0
        rewoundTo = try container.decodeIfPresent(Int.self, forKey: .rewoundTo)
        rewindsApplied = try container.decodeIfPresent(Int.self, forKey: .rewindsApplied) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(tracker, forKey: .tracker)
        try container.encode(target, forKey: .target)
        try container.encode(stepsThrough, forKey: .stepsThrough)
        try container.encode(evalsThrough, forKey: .evalsThrough)
        try container.encode(checkpointsThrough, forKey: .checkpointsThrough)
        try container.encode(setupDone, forKey: .setupDone)
        try container.encode(runKey, forKey: .runKey)
        try container.encode(runID, forKey: .runID)
        try container.encode(experimentID, forKey: .experimentID)
        try container.encode(endedState, forKey: .endedState)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(lastErrorAtMs, forKey: .lastErrorAtMs)
        try container.encode(updatedAtMs, forKey: .updatedAtMs)
        try container.encode(try failure.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }, forKey: .failure)
        try container.encode(rewinds, forKey: .rewinds)
        try container.encode(rewoundTo, forKey: .rewoundTo)
        try container.encode(rewindsApplied, forKey: .rewindsApplied)
    }
}

/// Why a tracker was given up on: a refusal that retrying cannot change. Never holds a credential.
public struct TrackerFailure: Codable, Sendable, Equatable, CustomStringConvertible {
    /// `POST /api/2.0/mlflow/runs/log-batch`.
    public var endpoint: String
    public var status: Int
    /// The tracker's own error code (MLflow's `error_code`), when it sent one.
    public var errorCode: String?
    public var message: String
    public var atMs: Int64

    enum CodingKeys: String, CodingKey {
        case endpoint, status, errorCode = "error_code", message, atMs = "at_ms"
    }

    public init(endpoint: String, status: Int, errorCode: String?, message: String, atMs: Int64) {
        (self.endpoint, self.status, self.errorCode, self.message, self.atMs) = (endpoint, status, errorCode, message, atMs)
    }

    public var description: String {
        "\(endpoint) answered \(status)\(errorCode.map { " \($0)" } ?? ""): \(message)"
    }

    /// Every field is written, `null` when unknown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(endpoint, forKey: .endpoint)
        try container.encode(status, forKey: .status)
        try container.encode(errorCode, forKey: .errorCode)
        try container.encode(message, forKey: .message)
        try container.encode(atMs, forKey: .atMs)
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
    /// `delivering`, or `failed`: given up on for this run, `failure` says why (v16).
    public var state: String = "delivering"
    public var failure: TrackerFailure?

    enum CodingKeys: String, CodingKey {
        case tracker, target, backlog, deliveredThroughStep = "delivered_through_step", lastError = "last_error"
        case lastErrorAtMs = "last_error_at_ms", runID = "run_id", state, failure
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
        try container.encode(state, forKey: .state)
        try container.encode(failure, forKey: .failure)
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

    // MARK: - v16: trackers given up on, and rewinds

    static func registerTrackingFailureMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v16: tracker failures and rewinds") { db in
            try db.execute(sql: "ALTER TABLE tracking_state ADD COLUMN failure TEXT")
            try db.execute(sql: "ALTER TABLE tracking_state ADD COLUMN rewinds INTEGER NOT NULL DEFAULT 0 CHECK (rewinds >= 0)")
            try db.execute(sql: "ALTER TABLE tracking_state ADD COLUMN rewound_to INTEGER CHECK (rewound_to >= 0)")
            try db.execute(sql: """
                ALTER TABLE tracking_state ADD COLUMN rewinds_applied INTEGER NOT NULL DEFAULT 0 CHECK (rewinds_applied >= 0)
                """)
        }
    }

    /// Inside `rewindSteps`' transaction: every tracker of the job is told that its points after
    /// `step` are stale. The marks go back to `step` (the steps trained again are delivered again)
    /// and a rewind is counted, which the tracker deals with before it delivers anything more.
    static func rewindTrackers(_ db: Database, jobID: Int64, after step: Int) throws {
        guard try db.tableExists("tracking_state"), try db.columns(in: "tracking_state").contains(where: { $0.name == "rewinds" }) else {
            return
        }
        try db.execute(sql: """
            UPDATE tracking_state SET rewinds = rewinds + 1,
                   rewound_to = CASE WHEN rewinds_applied < rewinds THEN min(coalesce(rewound_to, ?), ?) ELSE ? END,
                   steps_through = min(steps_through, ?), evals_through = min(evals_through, ?), ended_state = NULL
            WHERE job_id = ?
            """, arguments: [step, step, step, step, step, jobID])
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
    ///
    /// A rewind recorded since `state` was read wins: its count and step are kept and the marks are
    /// held at its step, so a delivery that raced it never records points the rewind made stale.
    @discardableResult
    public func saveTrackerState(_ state: TrackerState) async throws -> TrackerState {
        try await write { db in
            var state = state
            if let existing = try TrackerState.fetchOne(db, key: ["job_id": state.jobID, "tracker": state.tracker]),
               existing.target == state.target {
                Self.merge(rewindsOf: existing, into: &state)
            }
            try state.save(db)
            return state
        }
    }

    /// Takes over the rewinds `recorded` holds that `state` has not seen, holding the marks at the
    /// rewind's step.
    public static func merge(rewindsOf recorded: TrackerState, into state: inout TrackerState) {
        guard recorded.rewinds > state.rewinds else { return }
        state.rewinds = recorded.rewinds
        state.rewoundTo = recorded.rewoundTo
        if let step = recorded.rewoundTo {
            state.stepsThrough = min(state.stepsThrough, step)
            state.evalsThrough = min(state.evalsThrough, step)
            state.endedState = nil
        }
    }

    /// The tracker's recorded marks as they stand (nil: none yet).
    public func recordedTrackerState(jobID: Int64, tracker: String) async throws -> TrackerState? {
        try await read { db in try TrackerState.fetchOne(db, key: ["job_id": jobID, "tracker": tracker]) }
    }

    /// Records that the tracker refused for good; the marks stay. Nothing more is sent to it this
    /// run; the job's next run clears it once the tracker accepts something again.
    public func recordTrackerFailure(jobID: Int64, tracker: String, failure: TrackerFailure) async throws {
        try await write { db in
            let json = String(decoding: try JSONEncoder().encode(failure), as: UTF8.self)
            try db.execute(sql: "UPDATE tracking_state SET failure = ?, updated_at_ms = ? WHERE job_id = ? AND tracker = ?",
                           arguments: [json, failure.atMs, jobID, tracker])
        }
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
                                     lastErrorAtMs: state.lastErrorAtMs, runID: state.runID,
                                     state: state.failure == nil ? "delivering" : "failed", failure: state.failure)
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
