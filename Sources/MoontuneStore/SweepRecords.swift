import Foundation
import MoontuneJSON

/// A sweep's metric (issue 25): `eval/reward_mean`, or `eval/<skill>/<metric>` read from an eval's
/// per-skill summary (`eval/point/f1`, `eval/query/accuracy`, `eval/detect/mean`). Higher is better.
public struct SweepMetric: Sendable, Hashable, CustomStringConvertible {
    /// nil: the eval's overall reward mean.
    public var skill: String?
    public var name: String

    public static let rewardMean = SweepMetric(skill: nil, name: "reward_mean")
    /// The skills an eval summarizes, and the figures each skill's summary holds.
    public static let skills = ["point", "detect", "query"]
    public static let skillFigures = ["mean", "std", "min", "max", "count", "accuracy", "precision", "recall", "f1",
                                      "true_positives", "predicted_boxes", "truth_boxes", "mean_distance", "hit_rate",
                                      "predicted_points", "no_prediction"]

    public init(skill: String?, name: String) {
        self.skill = skill
        self.name = name
    }

    /// Parses `eval/reward_mean` or `eval/<skill>/<metric>`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts == ["eval", "reward_mean"] {
            self = .rewardMean
        } else if parts.count == 3, parts[0] == "eval", Self.skills.contains(parts[1]), Self.skillFigures.contains(parts[2]) {
            self.init(skill: parts[1], name: parts[2])
        } else {
            return nil
        }
    }

    public var description: String { skill.map { "eval/\($0)/\(name)" } ?? "eval/reward_mean" }

    /// The metric's value in an eval, or nil when the eval does not have it (no example of the skill).
    public func value(in eval: EvalRecord) -> Double? {
        guard let skill else { return eval.rewardMean }
        guard let object = try? JSONSerialization.jsonObject(with: Data(eval.perSkillJSON.utf8)) as? [String: Any],
              let summary = object[skill] as? [String: Any], let number = summary[name] as? NSNumber else { return nil }
        let value = number.doubleValue
        return value.isFinite ? value : nil
    }
}

/// `prune` of a sweep: ASHA at the given rung steps, keeping the top `keep` fraction.
public struct PruneRule: Codable, Sendable, Equatable {
    public var rungs: [Int]
    public var keep: Double

    public init(rungs: [Int], keep: Double) {
        self.rungs = rungs
        self.keep = keep
    }
}

/// A sweep as recorded by `moontune sweep`.
public struct SweepRecord: Sendable, Equatable {
    public var id: Int64?
    public var name: String
    /// SHA-256 of the sweep's meaning (its metric, prune rule and every variant's config, canonical):
    /// the same sweep submitted again has the same digest.
    public var digest: String
    /// The sweep file's text and path as submitted.
    public var fileText: String
    public var filePath: String
    public var metric: String
    public var prune: PruneRule?
    public var createdAtMs: Int64

    public init(id: Int64? = nil, name: String, digest: String, fileText: String, filePath: String, metric: String,
                prune: PruneRule?, createdAtMs: Int64) {
        self.id = id
        self.name = name
        self.digest = digest
        self.fileText = fileText
        self.filePath = filePath
        self.metric = metric
        self.prune = prune
        self.createdAtMs = createdAtMs
    }
}

/// A job's place in a sweep: the seam for anything that wants to group a sweep's jobs (trackers:
/// the sweep's name as a tag, the params as the run's params).
public struct SweepMembership: Sendable, Equatable {
    public var sweepID: Int64
    public var sweep: String
    public var jobID: Int64
    /// 1-based, in grid order (the job is `<sweep>-<position>`).
    public var position: Int
    /// The variant's settings, in the sweep's key order: a JSON array of `[key, value]` pairs
    /// (`[["train.lr", 0.001], ["train.rollouts_per_group", 4]]`).
    public var paramsJSON: String
    public var metric: String
    public var prune: PruneRule?
    /// Set when the job, once pruned, was started again by hand: pruning no longer applies to it.
    public var pruningReleasedAtMs: Int64?

    /// The params as (key, JSON text of the value) pairs, in order.
    public var params: [(key: String, json: String)] { Self.params(paramsJSON) }

    /// Each value's text is kept as the sweep wrote it (`0.00001` stays `0.00001`).
    public static func params(_ json: String) -> [(key: String, json: String)] {
        guard let pairs = (try? RawJSON(validating: json))?.arrayElements() else { return [] }
        return pairs.compactMap { pair in
            guard let items = pair.arrayElements(), items.count == 2, let key = try? items[0].decode(String.self) else { return nil }
            return (key, items[1].text)
        }
    }
}

/// A pruning decision, as recorded with the rung's figures (so that it is the same after a restart).
public struct PruneDecisionRecord: Sendable, Equatable, Codable {
    public var jobID: Int64
    public var rung: Int
    /// Whether the job went on (false: pruned).
    public var goesOn: Bool
    /// The job's metric at the rung (nil: its eval lacked the metric, and it went on).
    public var value: Double?
    /// 1-based rank of the job among the variants with an eval at the rung (ties share the best rank).
    public var rank: Int
    /// How many variants had an eval at the rung, the job included.
    public var cohort: Int
    /// How many of them were kept (the top `keep` fraction, at least 1).
    public var kept: Int
    /// The cohort's figures as JSON: `[{"job": name, "value": v}, ...]`.
    public var figuresJSON: String
    public var atMs: Int64
    /// Set when a resubmission by hand released the job from this decision.
    public var releasedAtMs: Int64?

    public init(jobID: Int64, rung: Int, goesOn: Bool, value: Double?, rank: Int, cohort: Int, kept: Int, figuresJSON: String,
                atMs: Int64, releasedAtMs: Int64? = nil) {
        self.jobID = jobID
        self.rung = rung
        self.goesOn = goesOn
        self.value = value
        self.rank = rank
        self.cohort = cohort
        self.kept = kept
        self.figuresJSON = figuresJSON
        self.atMs = atMs
        self.releasedAtMs = releasedAtMs
    }
}

/// What a pruning decision is taken on: the job's value at the rung and its siblings' (the sweep's
/// other variants with an eval at the rung and the metric in it).
public struct PruneCohort: Sendable, Equatable {
    public var job: String
    public var value: Double?
    public var siblings: [(job: String, value: Double)]

    public init(job: String, value: Double?, siblings: [(job: String, value: Double)]) {
        self.job = job
        self.value = value
        self.siblings = siblings
    }

    public static func == (lhs: PruneCohort, rhs: PruneCohort) -> Bool {
        lhs.job == rhs.job && lhs.value == rhs.value && lhs.siblings.map(\.job) == rhs.siblings.map(\.job)
            && lhs.siblings.map(\.value) == rhs.siblings.map(\.value)
    }
}

/// The verdict a decision function gives on a cohort.
public struct PruneVerdict: Sendable, Equatable {
    public var goesOn: Bool
    public var rank: Int
    public var cohort: Int
    public var kept: Int

    public init(goesOn: Bool, rank: Int, cohort: Int, kept: Int) {
        self.goesOn = goesOn
        self.rank = rank
        self.cohort = cohort
        self.kept = kept
    }
}
