import Foundation
import MoondreamAPI

/// What a learnability probe found: the base model's rollouts on a stratified sample, scored with
/// the job's rewards. Pure: every figure is computed from the groups given, so it is tested
/// without a server.
package struct ProbeAnalysis: Encodable, Sendable, Equatable {
    /// One example's group of rollouts at one temperature.
    package struct Group: Sendable, Equatable {
        package var skill: Skill
        package var rewards: [Double]
        /// `finish_reason` of each rollout, when the server sent it.
        package var finishReasons: [String?]
        /// The answer's length of each rollout, when known (its `answer_tokens`, else the
        /// answer's words for query).
        package var answerLengths: [Int?]
        /// Issue 24: each grader's score of each rollout (empty without graders).
        package var graderScores: [String: [Double]] = [:]

        package init(skill: Skill, rewards: [Double], finishReasons: [String?], answerLengths: [Int?]) {
            self.skill = skill
            self.rewards = rewards
            self.finishReasons = finishReasons
            self.answerLengths = answerLengths
        }
    }

    package struct Histogram: Encodable, Sendable, Equatable {
        /// The lower edge of each bin; the last bin includes its upper edge.
        package var edges: [Double]
        package var counts: [Int]
    }

    package struct SkillFigures: Encodable, Sendable, Equatable {
        package var groups: Int
        package var rollouts: Int
        package var rewardMean: Double
        package var histogram: Histogram
        /// The share of groups of the job's size whose rewards are not all equal.
        package var signalFraction: Double
        package var truncationRate: Double?
        package var meanAnswerLength: Double?

        enum CodingKeys: String, CodingKey {
            case groups, rollouts, rewardMean = "reward_mean", histogram, signalFraction = "signal_fraction"
            case truncationRate = "truncation_rate", meanAnswerLength = "mean_answer_length"
        }
    }

    package struct TemperatureFigures: Encodable, Sendable, Equatable {
        package var temperature: Double
        package var perSkill: [String: SkillFigures]
        /// Over every skill: the share of groups with signal, by group size.
        package var signalByGroupSize: [String: Double]
        package var signalFraction: Double
        package var truncationRate: Double?
        package var meanAnswerLength: Double?
        /// Issue 24: per grader, its mean score and the share of groups it gives signal; nil without graders.
        package var graders: [String: GraderFigures]? = nil

        enum CodingKeys: String, CodingKey {
            case temperature, perSkill = "per_skill", signalByGroupSize = "signal_by_group_size", signalFraction = "signal_fraction"
            case truncationRate = "truncation_rate", meanAnswerLength = "mean_answer_length", graders
        }
    }

    package struct Recommendation: Encodable, Sendable, Equatable {
        package var rolloutsPerGroup: Int
        package var temperature: Double
        package var signalFraction: Double
        package var reason: String

        enum CodingKeys: String, CodingKey {
            case rolloutsPerGroup = "rollouts_per_group", temperature, signalFraction = "signal_fraction", reason
        }
    }

    package var examples: Int
    /// Rollouts asked for per example: the largest group size compared.
    package var rolloutsProbed: Int
    package var jobGroupSize: Int
    package var jobTemperature: Double
    package var temperatures: [TemperatureFigures]
    package var recommendation: Recommendation

    package enum CodingKeys: String, CodingKey {
        case examples, rolloutsProbed = "rollouts_probed", jobGroupSize = "job_rollouts_per_group", jobTemperature = "job_temperature", temperatures, recommendation
    }

    /// The group sizes compared (the API takes 1 to 16 rollouts per group), up to the rollouts
    /// probed per example.
    package static let candidateSizes = [2, 4, 8, 16]
    package var groupSizes: [Int] { Self.sizes(upTo: rolloutsProbed) }

    package static func sizes(upTo rollouts: Int) -> [Int] {
        let sizes = candidateSizes.filter { $0 <= rollouts }
        return sizes.isEmpty ? [max(1, rollouts)] : sizes
    }
    /// "Most groups have signal".
    package static let enoughSignal = 0.8

    package init(groupsByTemperature: [(temperature: Double, groups: [Group])], jobGroupSize: Int, jobTemperature: Double) {
        examples = groupsByTemperature.first?.groups.count ?? 0
        rolloutsProbed = groupsByTemperature.flatMap(\.groups).map(\.rewards.count).max() ?? 0
        self.jobGroupSize = jobGroupSize
        self.jobTemperature = jobTemperature
        let sizes = Self.sizes(upTo: rolloutsProbed)
        temperatures = groupsByTemperature.map {
            var figures = Self.figures(temperature: $0.temperature, groups: $0.groups, jobGroupSize: jobGroupSize, sizes: sizes)
            figures.graders = Self.graderFigures($0.groups, jobGroupSize: jobGroupSize)  // issue 24
            return figures
        }
        recommendation = Self.recommend(temperatures, sizes: sizes, jobGroupSize: jobGroupSize, jobTemperature: jobTemperature)
    }

    /// The chance that `size` rollouts drawn from this group (without replacement) are not all
    /// equal: 1 − Σ over distinct rewards of C(n_v, size) / C(n, size). Sizes above the group's
    /// own are judged at the group's size.
    package static func signalProbability(_ rewards: [Double], size: Int) -> Double {
        let n = rewards.count
        guard n >= 2 else { return 0 }
        let k = min(max(size, 2), n)
        var counts: [Double: Int] = [:]
        for reward in rewards { counts[reward, default: 0] += 1 }
        let total = choose(n, k)
        let constant = counts.values.reduce(0.0) { $0 + choose($1, k) }
        return total > 0 ? max(0, 1 - constant / total) : 0
    }

    package static func choose(_ n: Int, _ k: Int) -> Double {
        guard k >= 0, k <= n else { return 0 }
        var result = 1.0
        for i in 0..<min(k, n - k) { result = result * Double(n - i) / Double(i + 1) }
        return result
    }

    package static func histogram(_ values: [Double], bins: Int = 10) -> Histogram {
        let low = min(0, values.min() ?? 0), high = max(1, values.max() ?? 1)
        let width = (high - low) / Double(bins)
        var counts = Array(repeating: 0, count: bins)
        for value in values {
            counts[min(bins - 1, max(0, Int((value - low) / width)))] += 1
        }
        return Histogram(edges: (0..<bins).map { low + Double($0) * width }, counts: counts)
    }

    package static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    package static func figures(temperature: Double, groups: [Group], jobGroupSize: Int, sizes: [Int]) -> TemperatureFigures {
        func summary(_ groups: [Group]) -> (signal: Double, truncation: Double?, length: Double?) {
            let signal = mean(groups.map { signalProbability($0.rewards, size: jobGroupSize) }) ?? 0
            let reasons = groups.flatMap(\.finishReasons).compactMap { $0 }
            let truncation = reasons.isEmpty ? nil : Double(reasons.filter { $0 == "length" }.count) / Double(reasons.count)
            let length = mean(groups.flatMap(\.answerLengths).compactMap { $0 }.map(Double.init))
            return (signal, truncation, length)
        }
        var perSkill: [String: SkillFigures] = [:]
        for skill in Skill.allCases {
            let mine = groups.filter { $0.skill == skill }
            guard !mine.isEmpty else { continue }
            let rewards = mine.flatMap(\.rewards)
            let figures = summary(mine)
            perSkill[skill.rawValue] = SkillFigures(groups: mine.count, rollouts: rewards.count, rewardMean: mean(rewards) ?? 0,
                                                    histogram: histogram(rewards), signalFraction: figures.signal,
                                                    truncationRate: figures.truncation, meanAnswerLength: figures.length)
        }
        var bySize: [String: Double] = [:]
        for size in sizes {
            bySize[String(size)] = mean(groups.map { signalProbability($0.rewards, size: size) }) ?? 0
        }
        let all = summary(groups)
        return TemperatureFigures(temperature: temperature, perSkill: perSkill, signalByGroupSize: bySize, signalFraction: all.signal,
                                  truncationRate: all.truncation, meanAnswerLength: all.length)
    }

    /// The smallest group size that gives most groups signal at some probed temperature (the
    /// job's temperature when it ties), else the size and temperature with the most signal.
    package static func recommend(_ temperatures: [TemperatureFigures], sizes: [Int], jobGroupSize: Int,
                          jobTemperature: Double) -> Recommendation {
        let candidates = temperatures.flatMap { figures in
            sizes.map { (size: $0, temperature: figures.temperature, signal: figures.signalByGroupSize[String($0)] ?? 0) }
        }
        func prefer(_ a: (size: Int, temperature: Double, signal: Double), _ b: (size: Int, temperature: Double, signal: Double)) -> Bool {
            if a.signal != b.signal { return a.signal > b.signal }
            return abs(a.temperature - jobTemperature) < abs(b.temperature - jobTemperature)
        }
        if let good = candidates.filter({ $0.signal >= enoughSignal }).min(by: { a, b in
            a.size != b.size ? a.size < b.size : prefer(a, b)
        }) {
            return Recommendation(rolloutsPerGroup: good.size, temperature: good.temperature, signalFraction: good.signal,
                                  reason: String(format: "the smallest group size that gives %.0f%% of groups signal", good.signal * 100))
        }
        guard let best = candidates.min(by: prefer) else {
            return Recommendation(rolloutsPerGroup: jobGroupSize, temperature: jobTemperature, signalFraction: 0,
                                  reason: "nothing was probed")
        }
        return Recommendation(rolloutsPerGroup: best.size, temperature: best.temperature, signalFraction: best.signal,
                              reason: String(format: "no probed setting gives most groups signal; this one gives the most (%.0f%%): "
                                  + "check the rewards, or try other temperatures with --temperatures", best.signal * 100))
    }

    package func text() -> String {
        var lines = ["probe: the base model on \(examples) examples (job: \(jobGroupSize) rollouts per group, temperature "
            + String(format: "%g", jobTemperature) + ")"]
        for figures in temperatures {
            lines.append(String(format: "temperature %g: %.0f%% of groups of %d have signal", figures.temperature,
                                figures.signalFraction * 100, jobGroupSize)
                + (figures.truncationRate.map { String(format: ", %.0f%% of rollouts cut by max_tokens", $0 * 100) } ?? "")
                + (figures.meanAnswerLength.map { String(format: ", answers %.1f tokens on average", $0) } ?? ""))
            lines.append("  by group size  " + groupSizes.map { size in
                String(format: "%d: %.0f%%", size, (figures.signalByGroupSize[String(size)] ?? 0) * 100)
            }.joined(separator: "   "))
            for (skill, skillFigures) in figures.perSkill.sorted(by: { $0.key < $1.key }) {
                let bars = Self.bars(skillFigures.histogram.counts)
                lines.append("  " + skill.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + String(format: " reward %.3f  ", skillFigures.rewardMean) + bars
                    + String(format: "  signal %.0f%%", skillFigures.signalFraction * 100)
                    + (skillFigures.truncationRate.map { String(format: ", truncated %.0f%%", $0 * 100) } ?? "")
                    + (skillFigures.meanAnswerLength.map { String(format: ", length %.1f", $0) } ?? ""))
            }
            lines += Self.graderLines(figures.graders)  // issue 24
        }
        lines.append(String(format: "recommended: train.rollouts_per_group %d, train.settings.temperature %g (%@)",
                            recommendation.rolloutsPerGroup, recommendation.temperature, recommendation.reason))
        return lines.joined(separator: "\n")
    }

    /// A histogram as ▁▂▃▄▅▆▇█ from reward 0 (left) to 1 (right).
    package static func bars(_ counts: [Int]) -> String {
        let symbols = Array(" ▁▂▃▄▅▆▇█")
        let top = max(1, counts.max() ?? 1)
        return "[" + String(counts.map { symbols[Int((Double($0) / Double(top) * 8).rounded())] }) + "]"
    }
}
