import Foundation
import MoontuneConfig

/// What a job will cost before its first call: requests and rollouts (training and eval), the
/// image bytes it sends, and a wall-time range for stated latencies. A pure function of the
/// config, the eval set's size and the average image size, so `validate` prints it without
/// calling anything.
package struct CostEstimate: Sendable, Equatable {
    /// `POST /tuning/rollouts` calls and the rollouts they ask for, while training.
    package var trainRolloutRequests = 0
    package var trainRollouts = 0
    package var trainSteps = 0
    package var sftSteps = 0
    /// Evals (before the first step, every `eval.every_steps`, after the last) and their rollouts
    /// (one per eval example).
    package var evals = 0
    package var evalRollouts = 0
    package var checkpointSaves = 0
    package var metricsPushes = 0
    /// Bytes of images sent, as base64 data URLs: an RL group's image goes out with its rollouts
    /// request and again in train_step's echoed request; an SFT group's once, in train_step.
    package var imageBytes: Double = 0
    /// Wall time at the stated latencies: `low` overlaps rollouts with train steps where
    /// `train.max_staleness` lets it and assumes no retry; `high` overlaps nothing and adds a
    /// fifth for retries, encoding and recording.
    package var lowSeconds: Double = 0
    package var highSeconds: Double = 0

    package var requests: Int { trainRolloutRequests + trainSteps + evalRollouts + checkpointSaves + metricsPushes }
    package var rollouts: Int { trainRollouts + evalRollouts }
    /// With `train.skip_constant_groups`, the training rollouts at most: every RL step taking all
    /// its attempts (nil without the setting).
    package var mostTrainRollouts: Int?
    /// Issue 24: calls to each model grader's judge, one per rollout scored (training, at most
    /// with `skip_constant_groups`, and eval), by grader name.
    package var judgeCalls: [String: Int] = [:]

    /// - Parameters:
    ///   - evalExamples: the eval set's size (nil without an eval set).
    ///   - trainImageBytes / evalImageBytes: the average image file size of each set.
    ///   - latency: one rollouts request; trainLatency: one train_step.
    package init(config: JobConfig, evalExamples: Int?, trainImageBytes: Double, evalImageBytes: Double,
         latency: Double, trainLatency: Double) {
        let train = config.train
        let steps = train.steps
        sftSteps = min(train.sftSteps, steps)
        let rlSteps = steps - sftSteps
        trainSteps = steps
        trainRolloutRequests = rlSteps * train.groupsPerStep
        trainRollouts = trainRolloutRequests * train.rolloutsPerGroup
        if train.skipConstantGroups { mostTrainRollouts = trainRollouts * (1 + TrainConfig.maxExtraAttempts) }
        let every = max(1, config.checkpoint.everySteps)
        checkpointSaves = steps / every + (steps % every == 0 ? 0 : 1)
        var evalUsed = 0
        if let eval = config.eval, let count = evalExamples, count > 0 {
            let cadence = max(1, eval.everySteps)
            evals = 1 + steps / cadence + (steps % cadence == 0 ? 0 : 1)
            evalUsed = min(eval.maxExamples, count)
            evalRollouts = evals * evalUsed
        }
        metricsPushes = config.api.pushMetrics ? steps + evals : 0
        judgeCalls = Self.judgeCalls(config.reward.graders, rollouts: (mostTrainRollouts ?? trainRollouts) + evalRollouts)
        let encoded = { (bytes: Double) in (bytes / 3).rounded(.up) * 4 + 23 }  // "data:image/jpeg;base64,"
        imageBytes = Double(rlSteps * train.groupsPerStep) * 2 * encoded(trainImageBytes)
            + Double(sftSteps * train.groupsPerStep) * encoded(trainImageBytes)
            + Double(evalRollouts) * encoded(evalImageBytes)

        let window = Double(max(1, train.concurrency))
        let gather = (Double(train.groupsPerStep) / window).rounded(.up) * latency
        let evalTime = Double(evals) * (Double(evalUsed) / window).rounded(.up) * latency
        let pipelined = train.maxStaleness > 0 ? max(gather, trainLatency) : gather + trainLatency
        lowSeconds = Double(rlSteps) * pipelined + Double(sftSteps) * trainLatency + evalTime
        highSeconds = (Double(rlSteps) * (gather + trainLatency) + Double(sftSteps) * trainLatency + evalTime) * 1.2
    }

    package func render(latency: Double, trainLatency: Double, sampledImages: Int) -> String {
        var lines = ["cost estimate (nothing was called):"]
        var training = "  training   \(Self.count(trainSteps)) train steps"
        if sftSteps > 0 { training += " (\(Self.count(sftSteps)) SFT)" }
        training += ", \(Self.count(trainRolloutRequests)) rollouts requests for \(Self.count(trainRollouts)) rollouts"
        lines.append(training)
        if let most = mostTrainRollouts {
            lines.append("  signal     train.skip_constant_groups: a step without signal tries up to \(TrainConfig.maxExtraAttempts) "
                + "more batches, so training takes up to \(Self.count(most)) rollouts (budget.max_rollouts counts them)")
        }
        if evals > 0 {
            lines.append("  eval       \(Self.count(evals)) evals, \(Self.count(evalRollouts)) rollouts (one per example)")
        }
        lines.append("  requests   \(Self.count(requests)) in all, \(Self.count(checkpointSaves)) checkpoint saves and "
            + "\(Self.count(metricsPushes)) metrics pushes among them; \(Self.count(rollouts)) rollouts")
        lines += judgeLines
        lines.append("  images     about \(Self.bytes(imageBytes)) sent (base64; average size from \(sampledImages) images)")
        lines.append("  wall time  \(Self.duration(lowSeconds)) – \(Self.duration(highSeconds)) at "
            + "\(Self.duration(latency)) per rollouts request and \(Self.duration(trainLatency)) per train step "
            + "(--latency, --train-latency)")
        return lines.joined(separator: "\n")
    }

    package static func count(_ value: Int) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.groupingSeparator = ","
        formatter.usesGroupingSeparator = true
        return formatter.string(from: NSNumber(value: value)) ?? String(value)
    }

    package static func bytes(_ value: Double) -> String {
        if value >= 1e9 { return String(format: "%.1f GB", value / 1e9) }
        if value >= 1e6 { return String(format: "%.1f MB", value / 1e6) }
        if value >= 1e3 { return String(format: "%.1f kB", value / 1e3) }
        return "\(Int(value)) B"
    }

    package static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 120 { return String(format: seconds < 10 ? "%.1f s" : "%.0f s", seconds) }
        if seconds < 7200 { return String(format: "%.0f min", seconds / 60) }
        return String(format: "%.1f h", seconds / 3600)
    }

    /// Reads "2s", "500ms", "1.5m", "1h" or a bare number of seconds.
    package static func parseDuration(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("min", 60), ("h", 3600)]
        for (unit, scale) in units.sorted(by: { $0.0.count > $1.0.count }) where trimmed.hasSuffix(unit) {
            guard let value = Double(trimmed.dropLast(unit.count)), value.isFinite, value >= 0 else { return nil }
            return value * scale
        }
        guard let value = Double(trimmed), value.isFinite, value >= 0 else { return nil }
        return value
    }
}
