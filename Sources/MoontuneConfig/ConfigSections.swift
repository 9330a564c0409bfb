import MoontuneJSON
import Foundation
import MoontuneDomain

/// Where and how to reach the API. The key itself is never part of a config: only the name of
/// the environment variable that holds it.
public struct APIConfig: Sendable, Equatable {
    /// The API root, without a trailing slash: tuning calls go to `{baseURL}/tuning/...`.
    public var baseURL: String = "https://api.moondream.ai/v1"
    public var apiKeyEnv: String = "MOONDREAM_API_KEY"
    /// The deadline of every call but train_step.
    public var requestTimeoutSeconds: Double = 120
    /// The deadline of one train_step: the live service's steps run for tens of seconds to
    /// minutes (its SDK gives them 900 s).
    public var trainStepTimeoutSeconds: Double = 900
    public var maxAttempts: Int = 100
    public var giveUpAfterSeconds: Double = 900
    public var maxBackoffSeconds: Double = 30
    /// `api.in_doubt_wait_s` when the config sets it.
    public var inDoubtWaitOverride: Double?
    /// After a train_step whose outcome is unknown (timeout, lost connection, a gateway error,
    /// a crash), how long the server may still apply it, counted from when it was sent: moontune
    /// does not conclude that it never landed before then.
    ///
    /// Defaults to twice the train_step deadline (issue 20): a step that timed out may still be
    /// running on the server at the very moment the client gives up on it, so "never landed" is
    /// not concluded before one more full deadline has passed after the timeout.
    public var inDoubtWaitSeconds: Double { inDoubtWaitOverride ?? Self.defaultInDoubtWait(trainStepTimeout: trainStepTimeoutSeconds) }

    /// The default window: the deadline, then one more full deadline for a step that timed out.
    public static func defaultInDoubtWait(trainStepTimeout: Double) -> Double { 2 * trainStepTimeout }
    /// Push step and eval metrics to the finetune's metrics endpoint (best effort).
    public var pushMetrics: Bool = true
    /// Answers larger than this are refused rather than buffered (the client's response cap).
    public var maxResponseBytes: Int = 64 << 20
    /// `api.max_requests_per_s`: the most requests a second sent on this key (the plan's limit);
    /// nil: moontune learns the key's rate from 429s and rate-limit headers alone.
    public var maxRequestsPerSecond: Double?

    public init() {}

    /// The API key from `environment` (pass `ProcessInfo.processInfo.environment`).
    /// The error names the variable, never a value.
    public func apiKey(environment: [String: String]) throws(ConfigError) -> String {
        guard let key = environment[apiKeyEnv]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
            throw ConfigError(Problem(
                file: "environment", field: apiKeyEnv,
                message: "no API key: set the environment variable \(apiKeyEnv) (the config's api.api_key_env names it)"))
        }
        return key
    }
}

/// The dataset files and how their images may be read.
public struct DataConfig: Sendable, Equatable {
    /// The training JSONL, resolved against the config file's folder.
    public var train: URL
    /// The eval JSONL, if any.
    public var eval: URL?
    /// Images larger than this are refused.
    public var maxImageBytes: Int = 20 << 20
    /// Whether image paths may be absolute or lead outside the dataset's folder.
    public var allowAbsolutePaths: Bool = false

    public init(train: URL, eval: URL? = nil) {
        self.train = train
        self.eval = eval
    }
}

/// The shape and pace of training.
public struct TrainConfig: Sendable, Equatable {
    public var steps: Int = 1
    /// Groups (examples) per train step.
    public var groupsPerStep: Int = 8
    /// Rollouts per group: the API's `num_rollouts`.
    public var rolloutsPerGroup: Int = 4
    public var lr: Double = 0.002
    public var seed: UInt64 = 0
    /// The most API requests in flight at once.
    public var concurrency: Int = 8
    /// How many steps old the policy behind a rollout may be when it is trained on (0 = on-policy).
    public var maxStaleness: Int = 0
    /// Whether query requests ask for reasoning.
    public var reasoning: Bool = false
    /// Sampling settings, every field resolved except `maxObjects` (nil = the server's default).
    /// `max_tokens` goes with query requests only and `max_objects` with detect only, unless a
    /// skill's own settings set them (`skillSettings`).
    public var settings = SamplingSettings(temperature: 1.0, topP: 1.0, maxTokens: 128, maxObjects: nil)
    /// `train.settings.point`, `.detect`, `.query`: fields that override the shared settings for
    /// one skill (nil fields inherit).
    public var skillSettings: [Skill: SamplingSettings] = [:]
    /// The first N steps are SFT steps, built from the examples' ground truth.
    public var sftSteps: Int = 0
    /// How the lr changes over the steps (`train.lr_schedule`).
    public var lrSchedule = LRSchedule()
    /// `train.skip_constant_groups`: RL groups whose rewards are all equal are left out of
    /// train_step; a step whose groups all are tries more examples (see `DataOrder`), up to a
    /// bound, and is recorded skipped when none carries signal.
    public var skipConstantGroups = false
    /// With `skipConstantGroups`, the most attempts a step makes after its own batch.
    public static let maxExtraAttempts = 3

    public init() {}

    /// The settings a request of `skill` carries.
    public func settings(for skill: Skill) -> SamplingSettings {
        let own = skillSettings[skill] ?? SamplingSettings()
        return SamplingSettings(temperature: own.temperature ?? settings.temperature, topP: own.topP ?? settings.topP,
                                maxTokens: own.maxTokens ?? (skill == .query ? settings.maxTokens : nil),
                                maxObjects: own.maxObjects ?? (skill == .detect ? settings.maxObjects : nil))
    }

    /// Whether step `k` (1-based) is an SFT step.
    public func isSFTStep(_ k: Int) -> Bool { k <= sftSteps }
}

/// When checkpoints are saved and which are kept.
public struct CheckpointConfig: Sendable, Equatable {
    /// Save after every N-th step; the last step is always saved.
    public var everySteps: Int
    /// Keep only the last N saved checkpoints (0 = keep all).
    public var keepLast: Int = 0
    /// Also keep the checkpoint with the best eval score.
    public var keepBest: Bool = false

    public init(everySteps: Int) {
        self.everySteps = everySteps
    }
}

/// When and on how many examples the eval set is scored.
public struct EvalConfig: Sendable, Equatable {
    public var everySteps: Int
    public var maxExamples: Int = 50

    public init(everySteps: Int) {
        self.everySteps = everySteps
    }
}

/// Who computes point and detect rewards.
public enum RewardSource: String, Sendable, Equatable, CaseIterable {
    /// The ground truth goes with the rollouts request and the server's rewards are used.
    case server
    /// moontune computes them (`LocalRewards`).
    case local
}

/// The local detect reward.
public enum DetectReward: String, Sendable, Equatable, CaseIterable {
    case f1
    case meanIoU = "mean_iou"
}

/// How a query answer is compared with the accepted answers.
public enum QueryMatch: String, Sendable, Equatable, CaseIterable {
    /// Equal after normalization (case, whitespace, surrounding punctuation, articles).
    case exact
    /// The accepted answer's words appear, in order and together, in the answer's words.
    case contains
    /// The accepted answer is a regular expression that matches somewhere in the answer.
    case regex
    /// The first number in the answer equals the accepted number, within the tolerance.
    case numeric
}

/// How rollouts are scored.
public struct RewardConfig: Sendable, Equatable {
    public var source: RewardSource = .server
    public var detect: DetectReward = .f1
    public var query: QueryMatch = .exact
    /// `numeric` accepts |answer − accepted| ≤ tolerance × max(1, |accepted|).
    public var numericTolerance: Double = 1e-6
    /// An external reward program that scores every group instead of the built-in rewards.
    public var command: [String]?
    public var commandTimeoutSeconds: Double = 30
    /// `reward.graders` (issue 24): the reward is Σ weight × score; empty: the built-in rewards
    /// or `command`, as before.
    public var graders: [GraderConfig] = []

    public init() {}
}

/// `budget`: what a job may spend at most. Not a training setting: a later run may raise it.
public struct BudgetConfig: Sendable, Equatable {
    /// Rollouts, train and eval together.
    public var maxRollouts: Int?
    /// Hours of running time, over all runs.
    public var maxHours: Double?

    public init(maxRollouts: Int? = nil, maxHours: Double? = nil) {
        self.maxRollouts = maxRollouts
        self.maxHours = maxHours
    }
}

/// `early_stop`: stop once the eval reward has not improved by `minDelta` for `patience` evals in
/// a row.
public struct EarlyStopConfig: Sendable, Equatable {
    public var patience: Int
    public var minDelta: Double

    public init(patience: Int, minDelta: Double = 0) {
        self.patience = patience
        self.minDelta = minDelta
    }
}

/// A loaded config and what is worth a warning but not a refusal.
public struct LoadedConfig: Sendable {
    public var config: JobConfig
    public var warnings: [String]
}
