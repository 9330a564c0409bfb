import Foundation
import MoontuneRewards

/// An eval's per-skill metrics (the `per_skill` JSON an eval records) said in words, for the
/// report and `status`.
package enum EvalMetricsText {
    /// The parts of one skill's `per_skill` entry read here; every metric is optional (evals
    /// recorded before the metrics existed have only the reward figures).
    package struct Figures: Codable, Sendable, Equatable {
        package var mean: Double
        package var count: Int?
        package var accuracy: Double?
        package var precision: Double?
        package var recall: Double?
        package var f1: Double?
        package var truePositives: Int?
        package var predictedBoxes: Int?
        package var truthBoxes: Int?
        package var meanDistance: Double?
        package var hitRate: Double?
        package var predictedPoints: Int?
        package var noPrediction: Int?

        /// A skill's reward mean and count with its metrics (compare computes them as eval does).
        package init(mean: Double, count: Int?, metrics: EvalSkillMetrics) {
            self.mean = mean
            self.count = count
            (accuracy, precision, recall, f1) = (metrics.accuracy, metrics.precision, metrics.recall, metrics.f1)
            (truePositives, predictedBoxes, truthBoxes) = (metrics.truePositives, metrics.predictedBoxes, metrics.truthBoxes)
            (meanDistance, hitRate, predictedPoints, noPrediction) = (metrics.meanDistance, metrics.hitRate, metrics.predictedPoints,
                                                                     metrics.noPrediction)
        }

        enum CodingKeys: String, CodingKey {
            case mean, count, accuracy, precision, recall, f1, truePositives = "true_positives", predictedBoxes = "predicted_boxes"
            case truthBoxes = "truth_boxes", meanDistance = "mean_distance", hitRate = "hit_rate"
            case predictedPoints = "predicted_points", noPrediction = "no_prediction"
        }
    }

    package static func figures(perSkillJSON: String) -> [String: Figures] {
        (try? JSONDecoder().decode([String: Figures].self, from: Data(perSkillJSON.utf8))) ?? [:]
    }

    /// One line per skill, by skill name: the reward mean and the skill's metrics.
    package static func lines(perSkillJSON: String) -> [(skill: String, text: String)] {
        figures(perSkillJSON: perSkillJSON).sorted { $0.key < $1.key }.map { ($0.key, text($0.value)) }
    }

    package static func text(_ figures: Figures) -> String {
        var parts = [String(format: "reward %.3f", figures.mean) + (figures.count.map { " (n=\($0))" } ?? "")]
        if let accuracy = figures.accuracy { parts.append(String(format: "accuracy %.3f", accuracy)) }
        if let precision = figures.precision, let recall = figures.recall, let f1 = figures.f1 {
            var detect = String(format: "precision %.3f, recall %.3f, F1 %.3f at IoU 0.5", precision, recall, f1)
            if let tp = figures.truePositives, let predicted = figures.predictedBoxes, let truth = figures.truthBoxes {
                detect += " (\(tp) matched of \(predicted) predicted, \(truth) true)"
            }
            parts.append(detect)
        }
        if let hitRate = figures.hitRate {
            var point = figures.meanDistance.map { String(format: "mean distance %.3f, ", $0) } ?? ""
            point += String(format: "hit rate %.3f", hitRate)
            if let points = figures.predictedPoints { point += " (\(points) points" + (figures.noPrediction.map { $0 > 0 ? ", \($0) examples without one" : "" } ?? "") + ")" }
            parts.append(point)
        }
        return parts.joined(separator: "; ")
    }
}
