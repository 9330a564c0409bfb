import Foundation

/// Issue 24: what each grader gives on the probed groups, so a user sees before training whether
/// a grader gives signal.
extension ProbeAnalysis {
    package struct GraderFigures: Encodable, Sendable, Equatable {
        package var meanScore: Double
        package var rollouts: Int
        /// The share of groups of the job's size whose scores from this grader are not all equal.
        package var signalFraction: Double

        enum CodingKeys: String, CodingKey {
            case meanScore = "mean_score", rollouts, signalFraction = "signal_fraction"
        }
    }

    static func graderFigures(_ groups: [Group], jobGroupSize: Int) -> [String: GraderFigures]? {
        let names = Set(groups.flatMap(\.graderScores.keys))
        guard !names.isEmpty else { return nil }
        var result: [String: GraderFigures] = [:]
        for name in names {
            let perGroup = groups.compactMap { $0.graderScores[name] }
            let scores = perGroup.flatMap { $0 }
            guard !scores.isEmpty else { continue }
            let signal = perGroup.map { signalProbability($0, size: jobGroupSize) }.reduce(0, +) / Double(perGroup.count)
            result[name] = GraderFigures(meanScore: scores.reduce(0, +) / Double(scores.count), rollouts: scores.count,
                                         signalFraction: signal)
        }
        return result
    }

    static func graderLines(_ graders: [String: GraderFigures]?) -> [String] {
        (graders ?? [:]).sorted { $0.key < $1.key }.map { name, figures in
            "  grader \(name): mean score " + String(format: "%.3f", figures.meanScore)
                + String(format: " over %d rollouts, signal in %.0f%% of groups", figures.rollouts, figures.signalFraction * 100)
        }
    }
}
