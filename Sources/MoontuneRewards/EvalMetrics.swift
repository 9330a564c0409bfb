import MoontuneConfig
import MoontuneDataset
import MoondreamAPI

/// An eval's figures for one skill beyond the mean reward. Only the skill's own figures are set
/// (the others stay nil and are left out of the JSON).
///
/// - query: `accuracy`, the fraction of examples whose answer is accepted (the config's
///   `reward.query` match and `reward.numeric_tolerance`).
/// - detect: `precision`, `recall` and `f1` at IoU ≥ 0.5, from a greedy one-to-one matching per
///   example (`LocalRewards.greedyMatch`), summed over the eval's examples: P = TP / predicted,
///   R = TP / truth, F1 = 2·TP / (predicted + truth). With nothing predicted and nothing to find
///   all three are 1; with exactly one side empty, 0.
/// - point: over every predicted point of the eval, `mean_distance` to the nearest ground-truth
///   point or box centre (normalized units, √2 at most), and `hit_rate`, the fraction of points
///   that hit: inside a ground-truth box, or within `EvalMetrics.hitRadius` (0.1) of a
///   ground-truth point. `no_prediction` counts examples answered with no point at all.
public struct EvalSkillMetrics: Codable, Sendable, Equatable {
    public var accuracy: Double?
    public var precision: Double?
    public var recall: Double?
    public var f1: Double?
    public var truePositives: Int?
    public var predictedBoxes: Int?
    public var truthBoxes: Int?
    public var meanDistance: Double?
    public var hitRate: Double?
    public var predictedPoints: Int?
    public var noPrediction: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case accuracy, precision, recall, f1, truePositives = "true_positives", predictedBoxes = "predicted_boxes"
        case truthBoxes = "truth_boxes", meanDistance = "mean_distance", hitRate = "hit_rate"
        case predictedPoints = "predicted_points", noPrediction = "no_prediction"
    }
}

/// Eval metrics per skill: pure functions over scored examples.
public enum EvalMetrics {
    /// How close a predicted point must come to a ground-truth point to count as a hit.
    public static let hitRadius = 0.1
    /// The IoU at which a predicted box matches a ground-truth box.
    public static let detectIoU = 0.5

    /// One example's prediction against its truth, as the metrics read it.
    public struct Scored: Sendable, Equatable {
        public var skill: Skill
        public var prediction: RolloutOutput?
        public var truth: GroundTruth?
        public var answers: [String]

        public init(skill: Skill, prediction: RolloutOutput?, truth: GroundTruth?, answers: [String] = []) {
            self.skill = skill
            self.prediction = prediction
            self.truth = truth
            self.answers = answers
        }

        public init(example: Example, prediction: RolloutOutput?) {
            self.init(skill: example.skill, prediction: prediction, truth: example.groundTruth, answers: example.answers)
        }
    }

    /// The figures of each skill present among `examples`.
    public static func perSkill(_ examples: [Scored], config: RewardConfig) -> [Skill: EvalSkillMetrics] {
        var result: [Skill: EvalSkillMetrics] = [:]
        for skill in Skill.allCases {
            let mine = examples.filter { $0.skill == skill }
            guard !mine.isEmpty else { continue }
            switch skill {
            case .query: result[skill] = query(mine, config: config)
            case .detect: result[skill] = detect(mine)
            case .point: result[skill] = point(mine)
            }
        }
        return result
    }

    /// The fraction of answers accepted.
    public static func query(_ examples: [Scored], config: RewardConfig) -> EvalSkillMetrics {
        let accepted = examples.filter { example in
            guard case .query(let answer, _)? = example.prediction else { return false }
            return LocalRewards.query(answer: answer, accepted: example.answers, mode: config.query, tolerance: config.numericTolerance) == 1
        }.count
        var metrics = EvalSkillMetrics()
        metrics.accuracy = examples.isEmpty ? 0 : Double(accepted) / Double(examples.count)
        return metrics
    }

    /// Precision, recall and F1 at IoU ≥ 0.5, the matches summed over the examples.
    public static func detect(_ examples: [Scored]) -> EvalSkillMetrics {
        var truePositives = 0, predicted = 0, truth = 0
        for example in examples {
            var guesses: [Box] = []
            if case .detect(let boxes)? = example.prediction { guesses = boxes }
            var targets: [Box] = []
            if case .boxes(let boxes)? = example.truth { targets = boxes }
            truePositives += LocalRewards.greedyMatch(guesses, targets, minimumIoU: detectIoU).count
            predicted += guesses.count
            truth += targets.count
        }
        var metrics = EvalSkillMetrics()
        metrics.truePositives = truePositives
        metrics.predictedBoxes = predicted
        metrics.truthBoxes = truth
        if predicted == 0 && truth == 0 {
            metrics.precision = 1
            metrics.recall = 1
            metrics.f1 = 1
        } else {
            metrics.precision = predicted == 0 ? 0 : Double(truePositives) / Double(predicted)
            metrics.recall = truth == 0 ? 0 : Double(truePositives) / Double(truth)
            metrics.f1 = 2 * Double(truePositives) / Double(predicted + truth)
        }
        return metrics
    }

    /// Mean distance to the nearest truth point or box centre, and the hit rate, over every
    /// predicted point.
    public static func point(_ examples: [Scored]) -> EvalSkillMetrics {
        var distances: [Double] = []
        var hits = 0, points = 0, empty = 0
        for example in examples {
            guard case .point(let guesses)? = example.prediction, !guesses.isEmpty else {
                empty += 1
                continue
            }
            for guess in guesses {
                points += 1
                switch example.truth {
                case .points(let targets)?:
                    if let nearest = targets.map({ distance(guess, $0) }).min() {
                        distances.append(nearest)
                        if nearest <= hitRadius { hits += 1 }
                    }
                case .boxes(let boxes)?:
                    if let nearest = boxes.map({ distance(guess, Point(x: ($0.xMin + $0.xMax) / 2, y: ($0.yMin + $0.yMax) / 2)) }).min() {
                        distances.append(nearest)
                    }
                    if boxes.contains(where: { $0.contains(guess) }) { hits += 1 }
                case nil:
                    break
                }
            }
        }
        var metrics = EvalSkillMetrics()
        metrics.predictedPoints = points
        metrics.noPrediction = empty
        metrics.hitRate = points == 0 ? 0 : Double(hits) / Double(points)
        metrics.meanDistance = distances.isEmpty ? nil : distances.reduce(0, +) / Double(distances.count)
        return metrics
    }

    static func distance(_ a: Point, _ b: Point) -> Double {
        ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).squareRoot()
    }
}
