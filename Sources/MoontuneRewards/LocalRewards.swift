import MoontuneConfig
import MoontuneDataset
import MoondreamAPI

/// The built-in reward functions. Pure; the point and detect ones match the API's (and the
/// simulator's) definitions exactly, so `reward.source` `local` and `server` agree.
public enum LocalRewards {
    /// The distance at which a predicted point stops earning anything, in normalized units.
    public static let pointRadius = 0.2

    /// For each predicted point, s = max over truth points of max(0, 1 − d / 0.2), d the Euclidean
    /// distance in normalized coordinates; the reward is the mean of s. 0 when nothing is predicted
    /// (or there is no truth).
    public static func pointDistance(predicted: [Point], truth: [Point]) -> Double {
        guard !predicted.isEmpty else { return 0 }
        let scores = predicted.map { guess in
            truth.map { target in
                let distance = ((guess.x - target.x) * (guess.x - target.x) + (guess.y - target.y) * (guess.y - target.y)).squareRoot()
                return max(0, 1 - distance / pointRadius)
            }.max() ?? 0
        }
        return scores.reduce(0, +) / Double(scores.count)
    }

    /// The fraction of predicted points inside any truth box, edges included. 0 when nothing is
    /// predicted.
    public static func pointContainment(predicted: [Point], truth: [Box]) -> Double {
        guard !predicted.isEmpty else { return 0 }
        let inside = predicted.filter { point in truth.contains { $0.contains(point) } }.count
        return Double(inside) / Double(predicted.count)
    }

    /// F1 of a greedy one-to-one matching at IoU ≥ 0.5: all (predicted, truth) pairs sorted by IoU
    /// descending (ties by predicted index, then truth index), a pair taken when both are still
    /// free. P = TP / |predicted|, R = TP / |truth|, F1 = 2PR / (P + R), 0 when TP = 0.
    /// Both empty → 1 (nothing to find, nothing claimed); exactly one empty → 0.
    public static func detectF1(predicted: [Box], truth: [Box]) -> Double {
        if predicted.isEmpty && truth.isEmpty { return 1 }
        if predicted.isEmpty || truth.isEmpty { return 0 }
        let matched = greedyMatch(predicted, truth, minimumIoU: 0.5).count
        guard matched > 0 else { return 0 }
        let precision = Double(matched) / Double(predicted.count)
        let recall = Double(matched) / Double(truth.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// The IoUs of a greedy one-to-one matching (as for F1, but any overlap counts) summed and
    /// divided by max(|predicted|, |truth|), so missed and extra boxes both count as 0.
    /// Both empty → 1; exactly one empty → 0.
    public static func detectMeanIoU(predicted: [Box], truth: [Box]) -> Double {
        if predicted.isEmpty && truth.isEmpty { return 1 }
        if predicted.isEmpty || truth.isEmpty { return 0 }
        let total = greedyMatch(predicted, truth, minimumIoU: .leastNonzeroMagnitude).reduce(0, +)
        return total / Double(max(predicted.count, truth.count))
    }

    /// 1 when `answer` matches any accepted answer under `mode`, else 0.
    public static func query(answer: String, accepted: [String], mode: QueryMatch, tolerance: Double) -> Double {
        accepted.contains { AnswerMatcher.matches(answer, $0, mode: mode, tolerance: tolerance) } ? 1 : 0
    }

    /// The IoU of each pair a greedy matching takes.
    package static func greedyMatch(_ predicted: [Box], _ truth: [Box], minimumIoU: Double) -> [Double] {
        var pairs: [(iou: Double, p: Int, t: Int)] = []
        for (p, guess) in predicted.enumerated() {
            for (t, target) in truth.enumerated() {
                let iou = guess.iou(target)
                if iou >= minimumIoU { pairs.append((iou, p, t)) }
            }
        }
        pairs.sort { ($0.iou, -$0.p, -$0.t) > ($1.iou, -$1.p, -$1.t) }
        var usedPredicted = Set<Int>(), usedTruth = Set<Int>()
        var taken: [Double] = []
        for pair in pairs where !usedPredicted.contains(pair.p) && !usedTruth.contains(pair.t) {
            usedPredicted.insert(pair.p)
            usedTruth.insert(pair.t)
            taken.append(pair.iou)
        }
        return taken
    }

    /// The reward of one decoded rollout output against an example's ground truth, with the
    /// config's choices. A missing or mismatched output earns 0.
    package static func reward(for output: RolloutOutput?, example: Example, config: RewardConfig) -> Double {
        switch (output, example.groundTruth) {
        case (.query(let answer, _)?, _) where example.skill == .query:
            return query(answer: answer, accepted: example.answers, mode: config.query, tolerance: config.numericTolerance)
        case (.point(let points)?, .points(let truth)?) where example.skill == .point:
            return pointDistance(predicted: points, truth: truth)
        case (.point(let points)?, .boxes(let truth)?) where example.skill == .point:
            return pointContainment(predicted: points, truth: truth)
        case (.detect(let boxes)?, .boxes(let truth)?) where example.skill == .detect:
            switch config.detect {
            case .f1: return detectF1(predicted: boxes, truth: truth)
            case .meanIoU: return detectMeanIoU(predicted: boxes, truth: truth)
            }
        default:
            return 0
        }
    }
}
