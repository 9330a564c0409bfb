import Foundation
import MoondreamAPI

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

    public init(skill: Skill, rewards: [Double], staleness: Int = 0) {
        self.skill = skill
        self.rewards = rewards
        self.staleness = staleness
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

    enum CodingKeys: String, CodingKey {
        case rewards, perSkill = "per_skill", constantGroupFraction = "constant_group_fraction", groups
        case rolloutLatencyMs = "rollout_latency_ms", trainLatencyMs = "train_latency_ms", wallMs = "wall_ms"
        case retries, staleness, server, reconciled
    }

    public init(groups outcomes: [GroupOutcome], rolloutLatenciesMs: [Double] = [], trainLatencyMs: Double? = nil,
                wallMs: Double? = nil, retries: [String: Int] = [:], server: [String: Double] = [:], reconciled: Bool = false) {
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
    }

    public var totalRetries: Int { retries.values.reduce(0, +) }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
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
