import Foundation
import GRDB

/// The lifecycle state stored for a job. `interrupted` is never stored: it is what `status`
/// derives for a job recorded `running` whose process is gone or silent. `queued`: submitted to
/// `serve` (issue 13), not yet running.
public enum JobState: String, Codable, Sendable, CaseIterable, DatabaseValueConvertible {
    case pending, running, stopped, failed, completed, queued
}

/// One job: its config snapshot, its finetune, and who is running it.
public struct JobRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "jobs"
    public var id: Int64?
    public var name: String
    public var finetuneID: String?
    public var configPath: String
    public var configJSON: String
    public var fingerprintJSON: String
    public var baseURL: String
    public var apiKeyEnv: String
    public var totalSteps: Int
    public var state: JobState
    public var pid: Int32?
    public var host: String?
    public var heartbeatMs: Int64?
    public var startedAtMs: Int64?
    public var createdAtMs: Int64
    public var updatedAtMs: Int64
    public var lastError: String?
    public var finetuneDeletedAtMs: Int64?
    /// The finetune's step on the server as last known (a train_step answer, a checkpoint save).
    public var serverStep: Int?
    /// What the runner is waiting on the API for, as `WaitRecord` JSON; nil when not waiting.
    /// (Nil too in a database a runner has not opened since migration v4.)
    public var waitingJSON: String?
    /// Why the job last stopped: `signal` for a graceful stop; nil otherwise.
    public var stopReason: String?
    /// Retries counted outside any recorded step (nil before migration v4).
    public var retriesOutsideSteps: Int?
    /// Running time of the runs before this one (v7), for `budget.max_hours`.
    public var runningMs: Int64?
    /// The first step concluded "never landed" by waiting (not by an answer) since the last final
    /// check (v13, issue 20): before the job completes or stops for its budget, moontune reads the
    /// server's step again once a late landing of it could have happened.
    public var lateCheckStep: Int?
    /// When that final check may run: one train_step deadline after the last such conclusion.
    public var lateCheckAfterMs: Int64?
    /// The config file's text as the job was admitted (v14, issue 21): what every later run of the
    /// job reads (`serve`, `sweep`), so that editing the file afterwards changes nothing for it.
    /// Replaced only when a user hands a file to a command again (`run`, `start`, `submit`) and the
    /// training settings it describes are the recorded ones. Nil for a job recorded before v14.
    public var configText: String?

    /// The recorded wait, decoded.
    public var waiting: WaitRecord? {
        waitingJSON.flatMap { try? JSONDecoder().decode(WaitRecord.self, from: Data($0.utf8)) }
    }

    enum CodingKeys: String, CodingKey {
        case id, name, finetuneID = "finetune_id", configPath = "config_path", configJSON = "config_json"
        case fingerprintJSON = "fingerprint_json", baseURL = "base_url", apiKeyEnv = "api_key_env"
        case totalSteps = "total_steps", state, pid, host, heartbeatMs = "heartbeat_ms", startedAtMs = "started_at_ms"
        case createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms", lastError = "last_error"
        case finetuneDeletedAtMs = "finetune_deleted_at_ms", serverStep = "server_step"
        case waitingJSON = "waiting_json", stopReason = "stop_reason", retriesOutsideSteps = "retries_outside_steps"
        case runningMs = "running_ms"
        case lateCheckStep = "late_check_step", lateCheckAfterMs = "late_check_after_ms"
        case configText = "config_text"
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    public init(name: String, configPath: String, configJSON: String, fingerprintJSON: String, baseURL: String,
                apiKeyEnv: String, totalSteps: Int, now: Int64) {
        self.name = name
        self.configPath = configPath
        self.configJSON = configJSON
        self.fingerprintJSON = fingerprintJSON
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.totalSteps = totalSteps
        self.state = .pending
        self.retriesOutsideSteps = 0
        self.createdAtMs = now
        self.updatedAtMs = now
    }
}

/// The two states of a train step: `intent` is committed before train_step is sent; `applied`
/// replaces it, with the metrics, once the step is known to have landed.
public enum StepState: String, Codable, Sendable, DatabaseValueConvertible {
    case intent, applied
}

/// One train step of a job. Rollout payloads are never stored: only ids and figures.
///
/// A step of `train.skip_constant_groups` whose groups all had equal rewards is recorded in one
/// write as `applied` with `skipped` set: it is done, and nothing was sent for it, so the server's
/// step after step k is k minus the skipped steps up to k.
@dynamicMemberLookup
public struct StepRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "steps"
    public var jobID: Int64
    public var k: Int
    public var state: StepState
    /// The dataset ids of the step's examples, as a JSON array.
    public var exampleIDs: String
    public var intentAtMs: Int64
    public var appliedAtMs: Int64?
    /// Applied through reconciliation: the answer was lost but the server had the step.
    public var reconciled: Bool
    /// The step's figures (their own columns), read and written through `record.rewardMean` etc.
    public var figures: StepFigures
    /// `rl` or `sft`; nil for steps recorded before v5.
    public var mode: StepMode? = nil
    /// The learning rate sent.
    public var lr: Double? = nil
    /// The server's step after this one, when its answer said.
    public var serverStep: Int? = nil
    /// train_step's own numbers, when the server sent them (live service).
    public var kl: Double? = nil
    public var routerKL: Double? = nil
    public var gradNorm: Double? = nil
    public var sftLoss: Double? = nil
    public var serverRewardMean: Double? = nil
    public var serverRewardStd: Double? = nil
    /// No group of the step had signal (v9): nothing was sent, and the server's step did not move.
    public var skipped = false

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", k, state, exampleIDs = "example_ids", intentAtMs = "intent_at_ms"
        case appliedAtMs = "applied_at_ms", reconciled, mode, lr, serverStep = "server_step"
        case kl, routerKL = "router_kl", gradNorm = "grad_norm", sftLoss = "sft_loss"
        case serverRewardMean = "server_reward_mean", serverRewardStd = "server_reward_std", skipped
    }

    public init(jobID: Int64, k: Int, state: StepState, exampleIDs: String, intentAtMs: Int64, appliedAtMs: Int64? = nil,
                reconciled: Bool, rewardMean: Double? = nil, rewardStd: Double? = nil, rewardMin: Double? = nil,
                rewardMax: Double? = nil, constantGroupFraction: Double? = nil, rolloutLatencyMs: Double? = nil,
                trainLatencyMs: Double? = nil, wallMs: Double? = nil, retries: Int, metricsJSON: String? = nil,
                mode: StepMode? = nil, lr: Double? = nil) {
        (self.jobID, self.k, self.state, self.exampleIDs) = (jobID, k, state, exampleIDs)
        (self.intentAtMs, self.appliedAtMs, self.reconciled, self.mode, self.lr) = (intentAtMs, appliedAtMs, reconciled, mode, lr)
        figures = StepFigures(rewardMean: rewardMean, rewardStd: rewardStd, rewardMin: rewardMin, rewardMax: rewardMax,
                              constantGroupFraction: constantGroupFraction, rolloutLatencyMs: rolloutLatencyMs,
                              trainLatencyMs: trainLatencyMs, wallMs: wallMs, retries: retries, metricsJSON: metricsJSON)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        jobID = try container.decode(Int64.self, forKey: .jobID)
        k = try container.decode(Int.self, forKey: .k)
        state = try container.decode(StepState.self, forKey: .state)
        exampleIDs = try container.decode(String.self, forKey: .exampleIDs)
        intentAtMs = try container.decode(Int64.self, forKey: .intentAtMs)
        appliedAtMs = try container.decodeIfPresent(Int64.self, forKey: .appliedAtMs)
        reconciled = try container.decode(Bool.self, forKey: .reconciled)
        // The figures are columns of the same row.
        figures = try StepFigures(from: decoder)
        mode = try container.decodeIfPresent(StepMode.self, forKey: .mode)
        lr = try container.decodeIfPresent(Double.self, forKey: .lr)
        serverStep = try container.decodeIfPresent(Int.self, forKey: .serverStep)
        train = TrainNumbers(kl: try container.decodeIfPresent(Double.self, forKey: .kl),
                             routerKL: try container.decodeIfPresent(Double.self, forKey: .routerKL),
                             gradNorm: try container.decodeIfPresent(Double.self, forKey: .gradNorm),
                             sftLoss: try container.decodeIfPresent(Double.self, forKey: .sftLoss),
                             rewardMean: try container.decodeIfPresent(Double.self, forKey: .serverRewardMean),
                             rewardStd: try container.decodeIfPresent(Double.self, forKey: .serverRewardStd))
        skipped = try container.decodeIfPresent(Bool.self, forKey: .skipped) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jobID, forKey: .jobID)
        try container.encode(k, forKey: .k)
        try container.encode(state, forKey: .state)
        try container.encode(exampleIDs, forKey: .exampleIDs)
        try container.encode(intentAtMs, forKey: .intentAtMs)
        try container.encode(appliedAtMs, forKey: .appliedAtMs)
        try container.encode(reconciled, forKey: .reconciled)
        try container.encode(mode, forKey: .mode)
        try container.encode(lr, forKey: .lr)
        try container.encode(serverStep, forKey: .serverStep)
        for (key, value) in [(CodingKeys.kl, kl), (.routerKL, routerKL), (.gradNorm, gradNorm), (.sftLoss, sftLoss),
                             (.serverRewardMean, serverRewardMean), (.serverRewardStd, serverRewardStd)] {
            try container.encode(value, forKey: key)
        }
        try container.encode(skipped, forKey: .skipped)
        try figures.encode(to: encoder)
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<StepFigures, T>) -> T {
        get { figures[keyPath: keyPath] }
        set { figures[keyPath: keyPath] = newValue }
    }

    /// train_step's numbers together.
    public var train: TrainNumbers {
        get {
            TrainNumbers(kl: kl, routerKL: routerKL, gradNorm: gradNorm, sftLoss: sftLoss, rewardMean: serverRewardMean,
                         rewardStd: serverRewardStd)
        }
        set {
            (kl, routerKL, gradNorm, sftLoss) = (newValue.kl, newValue.routerKL, newValue.gradNorm, newValue.sftLoss)
            (serverRewardMean, serverRewardStd) = (newValue.rewardMean, newValue.rewardStd)
        }
    }
}

/// The figures of one step, declared once: the step record's columns of them, and what the loop
/// records with an applied (or skipped) step.
public struct StepFigures: Codable, Sendable, Equatable {
    public var rewardMean: Double?
    public var rewardStd: Double?
    public var rewardMin: Double?
    public var rewardMax: Double?
    /// With `train.skip_constant_groups`, the fraction of the groups tried that were constant.
    public var constantGroupFraction: Double?
    public var rolloutLatencyMs: Double?
    public var trainLatencyMs: Double?
    public var wallMs: Double?
    public var retries: Int
    /// Everything else: per-skill rewards, retries by kind, staleness, the server's statistics.
    public var metricsJSON: String?
    /// Groups whose rollouts the step asked for, over all its attempts (v9).
    public var groupsTried: Int? = nil
    /// Groups sent to train_step (v9).
    public var groupsKept: Int? = nil
    /// Groups left out for equal rewards (v9).
    public var groupsDropped: Int? = nil
    /// The mean answer length of the step's rollouts, in tokens (or words), when they carry it (v9).
    public var answerLengthMean: Double? = nil
    /// The fraction of the step's rollouts cut by max_tokens (`finish_reason: length`), when they
    /// carry a finish reason (v9).
    public var truncationRate: Double? = nil

    enum CodingKeys: String, CodingKey {
        case rewardMean = "reward_mean", rewardStd = "reward_std", rewardMin = "reward_min", rewardMax = "reward_max"
        case constantGroupFraction = "constant_group_fraction", rolloutLatencyMs = "rollout_latency_ms"
        case trainLatencyMs = "train_latency_ms", wallMs = "wall_ms", retries, metricsJSON = "metrics_json"
        case groupsTried = "groups_tried", groupsKept = "groups_kept", groupsDropped = "groups_dropped"
        case answerLengthMean = "answer_length_mean", truncationRate = "truncation_rate"
    }

    public init(rewardMean: Double? = nil, rewardStd: Double? = nil, rewardMin: Double? = nil, rewardMax: Double? = nil,
                constantGroupFraction: Double? = nil, rolloutLatencyMs: Double? = nil, trainLatencyMs: Double? = nil,
                wallMs: Double? = nil, retries: Int = 0, metricsJSON: String? = nil) {
        (self.rewardMean, self.rewardStd, self.rewardMin, self.rewardMax) = (rewardMean, rewardStd, rewardMin, rewardMax)
        (self.constantGroupFraction, self.rolloutLatencyMs, self.trainLatencyMs) = (constantGroupFraction, rolloutLatencyMs, trainLatencyMs)
        (self.wallMs, self.retries, self.metricsJSON) = (wallMs, retries, metricsJSON)
    }

    /// Every column, `NULL` when absent (a record written in full replaces its figures).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        for (key, value) in [(CodingKeys.rewardMean, rewardMean), (.rewardStd, rewardStd), (.rewardMin, rewardMin),
                             (.rewardMax, rewardMax), (.constantGroupFraction, constantGroupFraction),
                             (.rolloutLatencyMs, rolloutLatencyMs), (.trainLatencyMs, trainLatencyMs), (.wallMs, wallMs),
                             (.answerLengthMean, answerLengthMean), (.truncationRate, truncationRate)] {
            try container.encode(value, forKey: key)
        }
        try container.encode(retries, forKey: .retries)
        try container.encode(metricsJSON, forKey: .metricsJSON)
        try container.encode(groupsTried, forKey: .groupsTried)
        try container.encode(groupsKept, forKey: .groupsKept)
        try container.encode(groupsDropped, forKey: .groupsDropped)
    }
}

/// Whether a step trained on rollouts and rewards (`rl`) or on targets (`sft`).
public enum StepMode: String, Codable, Sendable, DatabaseValueConvertible {
    case rl, sft
}

/// The numbers a train_step answer carries (live service), each nil when not sent.
public struct TrainNumbers: Codable, Sendable, Equatable {
    public var kl: Double?
    public var routerKL: Double?
    public var gradNorm: Double?
    public var sftLoss: Double?
    /// The server's own reward statistics of the step.
    public var rewardMean: Double?
    public var rewardStd: Double?

    public init(kl: Double? = nil, routerKL: Double? = nil, gradNorm: Double? = nil, sftLoss: Double? = nil,
                rewardMean: Double? = nil, rewardStd: Double? = nil) {
        self.kl = kl
        self.routerKL = routerKL
        self.gradNorm = gradNorm
        self.sftLoss = sftLoss
        self.rewardMean = rewardMean
        self.rewardStd = rewardStd
    }

    /// From an answer's numbers, by the names the live service uses.
    public init(answer numbers: [String: Double]) {
        self.init(kl: numbers["kl"], routerKL: numbers["router_kl"], gradNorm: numbers["grad_norm"], sftLoss: numbers["sft_loss"],
                  rewardMean: numbers["reward_mean"], rewardStd: numbers["reward_std"])
    }

    public var isEmpty: Bool { self == TrainNumbers() }

    /// The numbers present, by their names in the answer.
    public var named: [(String, Double)] {
        [("kl", kl), ("router_kl", routerKL), ("grad_norm", gradNorm), ("sft_loss", sftLoss),
         ("reward_mean", rewardMean), ("reward_std", rewardStd)].compactMap { name, value in value.map { (name, $0) } }
    }

    enum CodingKeys: String, CodingKey {
        case kl, routerKL = "router_kl", gradNorm = "grad_norm", sftLoss = "sft_loss"
        case rewardMean = "reward_mean", rewardStd = "reward_std"
    }
}

/// What the loop records with an applied step: its figures, the server's step after it and
/// train_step's numbers.
@dynamicMemberLookup
public struct StepMetrics: Sendable, Equatable {
    public var figures: StepFigures
    /// The server's step after this one, when its answer said.
    public var serverStep: Int?
    public var train = TrainNumbers()

    public init(_ figures: StepFigures = StepFigures(), serverStep: Int? = nil, train: TrainNumbers = TrainNumbers()) {
        self.figures = figures
        self.serverStep = serverStep
        self.train = train
    }

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<StepFigures, T>) -> T {
        get { figures[keyPath: keyPath] }
        set { figures[keyPath: keyPath] = newValue }
    }
}

/// Why a checkpoint exists: the cadence, the last step, or a reconciliation (which is deleted
/// again once a newer checkpoint is saved).
public enum CheckpointKind: String, Codable, Sendable, DatabaseValueConvertible {
    case cadence, final, reconcile
}

/// A checkpoint saved on the server, with its deletion recorded before and after the call.
public struct CheckpointRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "checkpoints"
    public var jobID: Int64
    public var step: Int
    public var checkpointID: String
    public var kind: CheckpointKind
    public var savedAtMs: Int64
    /// Set when a deletion is about to be sent; a crash leaves it set, and the next run finishes it.
    public var deletingAtMs: Int64?
    public var deletedAtMs: Int64?
    /// When the server will delete it (live service), if it said.
    public var expiresAtMs: Int64?
    /// The finetune's step on the server for this checkpoint (v9), set when it differs from
    /// `step`: after steps skipped for lack of signal, which the server never saw.
    public var serverStep: Int? = nil

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", step, checkpointID = "checkpoint_id", kind, savedAtMs = "saved_at_ms"
        case deletingAtMs = "deleting_at_ms", deletedAtMs = "deleted_at_ms", expiresAtMs = "expires_at_ms"
        case serverStep = "server_step"
    }

    public var isLive: Bool { deletedAtMs == nil }

    /// The step the server knows this checkpoint by: for `finetune@step` and its deletion.
    public var stepOnServer: Int { serverStep ?? step }
}

/// An eval result at a step.
public struct EvalRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "evals"
    public var jobID: Int64
    public var step: Int
    public var rewardMean: Double
    public var count: Int
    /// Per-skill means and counts, as JSON.
    public var perSkillJSON: String
    public var atMs: Int64
    /// Issue 24: each grader's mean score over the eval's examples, as a JSON object (v17); nil
    /// without graders (and for evals recorded before v17).
    public var graderMeansJSON: String? = nil

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", step, rewardMean = "reward_mean", count = "n", perSkillJSON = "per_skill_json", atMs = "at_ms"
        case graderMeansJSON = "grader_means_json"
    }

    public init(jobID: Int64, step: Int, rewardMean: Double, count: Int, perSkillJSON: String, atMs: Int64,
                graderMeans: [String: Double] = [:]) {
        self.jobID = jobID
        self.step = step
        self.rewardMean = rewardMean
        self.count = count
        self.perSkillJSON = perSkillJSON
        self.atMs = atMs
        let finite = graderMeans.filter { $0.value.isFinite }
        if !finite.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            graderMeansJSON = (try? encoder.encode(finite)).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Each grader's mean score over the eval's examples; empty without graders.
    public var graderMeans: [String: Double] {
        guard let graderMeansJSON else { return [:] }
        return (try? JSONDecoder().decode([String: Double].self, from: Data(graderMeansJSON.utf8))) ?? [:]
    }
}

/// Something notable in a job's life: started, stopped, resumed after a crash, reconciled,
/// retried, failed.
public struct EventRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "events"
    public var id: Int64?
    public var jobID: Int64
    public var atMs: Int64
    public var kind: String
    public var step: Int?
    public var message: String
    public var dataJSON: String?

    enum CodingKeys: String, CodingKey {
        case id, jobID = "job_id", atMs = "at_ms", kind, step, message, dataJSON = "data_json"
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    public init(jobID: Int64, atMs: Int64, kind: String, step: Int?, message: String, dataJSON: String? = nil) {
        self.jobID = jobID
        self.atMs = atMs
        self.kind = kind
        self.step = step
        self.message = message
        self.dataJSON = dataJSON
    }
}

/// A wait on the API as `status` shows it: what the runner waits for, since when, why, and until
/// when at the latest. Times are Unix milliseconds.
public struct WaitRecord: Codable, Sendable, Equatable {
    /// In words: "create the finetune", "rollouts", "train_step outcome in doubt", ...
    public var what: String
    /// For example `POST /tuning/rollouts`.
    public var endpoint: String
    public var sinceMs: Int64
    /// The failure that made it wait, in words: "connection refused", "429, Retry-After 20 s".
    public var lastError: String
    /// The attempt that last failed (1-based); 0 for a wait that is not a retry (in doubt).
    public var attempt: Int
    public var nextAttemptMs: Int64?
    public var givesUpAtMs: Int64?

    public init(what: String, endpoint: String, sinceMs: Int64, lastError: String, attempt: Int,
                nextAttemptMs: Int64?, givesUpAtMs: Int64?) {
        self.what = what
        self.endpoint = endpoint
        self.sinceMs = sinceMs
        self.lastError = lastError
        self.attempt = attempt
        self.nextAttemptMs = nextAttemptMs
        self.givesUpAtMs = givesUpAtMs
    }

    enum CodingKeys: String, CodingKey {
        case what, endpoint, sinceMs = "since_ms", lastError = "last_error", attempt
        case nextAttemptMs = "next_attempt_ms", givesUpAtMs = "gives_up_at_ms"
    }

    /// Every field is written, `null` when unknown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(what, forKey: .what)
        try container.encode(endpoint, forKey: .endpoint)
        try container.encode(sinceMs, forKey: .sinceMs)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(attempt, forKey: .attempt)
        try container.encode(nextAttemptMs, forKey: .nextAttemptMs)
        try container.encode(givesUpAtMs, forKey: .givesUpAtMs)
    }
}
