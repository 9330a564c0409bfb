import Foundation
import MoontuneRewards

/// An eval's per-skill metrics (the `per_skill` JSON an eval records) said in words, for the
/// report and `status`.
package enum EvalMetricsText {
    /// The parts of one skill's `per_skill` entry read here: its reward mean and count, and the
    /// metrics (`EvalSkillMetrics`, flat beside them in the JSON, as `EvalSkillSummary` writes
    /// them); every metric is optional (evals recorded before the metrics existed have none).
    @dynamicMemberLookup
    package struct Figures: Codable, Sendable, Equatable {
        package var mean: Double
        package var count: Int?
        package var metrics: EvalSkillMetrics

        /// A skill's reward mean and count with its metrics (compare computes them as eval does).
        package init(mean: Double, count: Int?, metrics: EvalSkillMetrics) {
            self.mean = mean
            self.count = count
            self.metrics = metrics
        }

        package subscript<T>(dynamicMember keyPath: KeyPath<EvalSkillMetrics, T>) -> T { metrics[keyPath: keyPath] }

        enum CodingKeys: String, CodingKey { case mean, count }

        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            mean = try container.decode(Double.self, forKey: .mean)
            count = try container.decodeIfPresent(Int.self, forKey: .count)
            metrics = try EvalSkillMetrics(from: decoder)
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(mean, forKey: .mean)
            try container.encodeIfPresent(count, forKey: .count)
            try metrics.encode(to: encoder)
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
