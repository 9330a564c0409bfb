import Foundation
import MoontuneDomain

/// Mean, spread and range of a set of rewards.
public struct RewardSummary: Codable, Sendable, Equatable {
    public var mean: Double
    public var std: Double
    public var min: Double
    public var max: Double
    public var count: Int

    /// Nil for an empty set. `std` is the population standard deviation.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
        self.mean = mean
        self.std = variance.squareRoot()
        self.min = values.min() ?? mean
        self.max = values.max() ?? mean
        self.count = values.count
    }
}

/// The rewards of one group, with its skill and how stale its policy was.
public struct GroupOutcome: Sendable, Equatable {
    public var skill: Skill
    public var rewards: [Double]
    public var staleness: Int
    /// Each rollout's `finish_reason` and answer length, nil where it carries none.
    public var finishReasons: [String?]
    public var answerLengths: [Int?]

    public init(skill: Skill, rewards: [Double], staleness: Int = 0, finishReasons: [String?] = [], answerLengths: [Int?] = []) {
        self.skill = skill
        self.rewards = rewards
        self.staleness = staleness
        self.finishReasons = finishReasons
        self.answerLengths = answerLengths
    }

    /// A group whose rewards are all equal has zero advantage everywhere: it teaches nothing.
    public var isConstant: Bool {
        guard let first = rewards.first else { return true }
        return rewards.allSatisfy { $0 == first }
    }
}

/// The figures of one step, as recorded in the database (columns plus `metrics_json`).
public struct StepStatistics: Codable, Sendable, Equatable {
    public var rewards: RewardSummary?
    public var perSkill: [String: RewardSummary]
    public var constantGroupFraction: Double
    public var groups: Int
    public var rolloutLatencyMs: LatencySummary?
    public var trainLatencyMs: Double?
    public var wallMs: Double?
    public var retries: [String: Int]
    public var staleness: StalenessSummary
    /// Whatever numbers train_step's answer carried (`kl`, `grad_norm`, ...).
    public var server: [String: Double]
    public var reconciled: Bool
    /// The mean answer length of the rollouts, when they carry one (`Rollout.answerLength`).
    public var answerLengthMean: Double?
    /// The fraction of rollouts with `finish_reason: length`, when they carry a finish reason.
    public var truncationRate: Double?
    /// `train.skip_constant_groups`: the groups tried, kept and dropped, and whether the step was
    /// skipped; nil when skipping is off (or for an SFT step).
    public var signal: GroupSignal?

    enum CodingKeys: String, CodingKey {
        case rewards, perSkill = "per_skill", constantGroupFraction = "constant_group_fraction", groups
        case rolloutLatencyMs = "rollout_latency_ms", trainLatencyMs = "train_latency_ms", wallMs = "wall_ms"
        case retries, staleness, server, reconciled
        case answerLengthMean = "answer_length_mean", truncationRate = "truncation_rate", signal
    }

    public init(groups outcomes: [GroupOutcome], rolloutLatenciesMs: [Double] = [], trainLatencyMs: Double? = nil,
                wallMs: Double? = nil, retries: [String: Int] = [:], server: [String: Double] = [:], reconciled: Bool = false,
                signal: GroupSignal? = nil) {
        self.signal = signal
        rewards = RewardSummary(outcomes.flatMap(\.rewards))
        var bySkill: [String: [Double]] = [:]
        for outcome in outcomes { bySkill[outcome.skill.rawValue, default: []].append(contentsOf: outcome.rewards) }
        perSkill = bySkill.compactMapValues(RewardSummary.init)
        groups = outcomes.count
        constantGroupFraction = outcomes.isEmpty ? 0 : Double(outcomes.filter(\.isConstant).count) / Double(outcomes.count)
        rolloutLatencyMs = LatencySummary(rolloutLatenciesMs)
        self.trainLatencyMs = trainLatencyMs
        self.wallMs = wallMs
        self.retries = retries
        staleness = StalenessSummary(outcomes.map(\.staleness))
        self.server = server
        self.reconciled = reconciled
        let lengths = outcomes.flatMap(\.answerLengths).compactMap { $0 }
        answerLengthMean = lengths.isEmpty ? nil : Double(lengths.reduce(0, +)) / Double(lengths.count)
        let reasons = outcomes.flatMap(\.finishReasons).compactMap { $0 }
        truncationRate = reasons.isEmpty ? nil : Double(reasons.filter { $0 == "length" }.count) / Double(reasons.count)
    }

    public var totalRetries: Int { retries.values.reduce(0, +) }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// What `train.skip_constant_groups` did with a step's groups.
public struct GroupSignal: Codable, Sendable, Equatable {
    /// Groups whose rollouts were asked for, over every attempt.
    public var tried: Int
    /// Groups sent to train_step (those of the attempt that had signal).
    public var kept: Int
    /// Groups left out for equal rewards, over every attempt.
    public var dropped: Int
    /// Attempts made (1 when the step's own batch had signal).
    public var attempts: Int
    /// No attempt had signal: nothing was sent.
    public var skipped: Bool

    public init(tried: Int, kept: Int, dropped: Int, attempts: Int, skipped: Bool) {
        (self.tried, self.kept, self.dropped, self.attempts, self.skipped) = (tried, kept, dropped, attempts, skipped)
    }
}

public struct LatencySummary: Codable, Sendable, Equatable {
    public var mean: Double
    public var p50: Double
    public var max: Double

    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        mean = values.reduce(0, +) / Double(values.count)
        p50 = sorted[sorted.count / 2]
        max = sorted[sorted.count - 1]
    }
}

public struct StalenessSummary: Codable, Sendable, Equatable {
    public var max: Int
    public var mean: Double

    public init(_ values: [Int]) {
        max = values.max() ?? 0
        mean = values.isEmpty ? 0 : Double(values.reduce(0, +)) / Double(values.count)
    }
}
