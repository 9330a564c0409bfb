import Foundation
import MoontuneStore

/// One row of `moontune export`: a train step (`kind` = step) or an eval (`kind` = eval).
/// Absent figures are nil: an empty CSV cell, a JSON null.
package struct MetricsRow: Sendable, Equatable {
    package enum Kind: String, Sendable { case step, eval }

    package var kind: Kind
    package var step: Int
    package var atMs: Int64?
    package var rewardMean: Double?
    package var rewardStd: Double?
    package var rewardMin: Double?
    package var rewardMax: Double?
    /// Rewards the figures are over: the step's rollouts, or the eval's examples.
    package var n: Int?
    package var constantGroupFraction: Double?
    package var rolloutLatencyMs: Double?
    package var trainLatencyMs: Double?
    package var wallMs: Double?
    package var retries: Int?
    package var reconciled: Bool?
    /// Reward mean per skill, for the skills present.
    package var perSkill: [String: Double] = [:]
    /// `rl` or `sft` (steps).
    package var mode: String?
    /// The learning rate sent (steps).
    package var lr: Double?
    /// The server's step after this one, when its answer said (steps).
    package var serverStep: Int?
    /// train_step's own numbers, when the server sent them (steps).
    package var train = TrainNumbers()
    /// `train.skip_constant_groups` (steps): groups tried, kept and dropped, and whether the step
    /// was skipped (false for every step without the setting).
    package var groupsTried: Int?
    package var groupsKept: Int?
    package var groupsDropped: Int?
    package var skipped: Bool?
    /// The rollouts' mean answer length and truncation rate, when they carried them (steps).
    package var answerLengthMean: Double?
    package var truncationRate: Double?
    /// The eval's figures beyond the reward, per skill (evals; docs/evals.md): query accuracy,
    /// detect precision, recall and F1 at IoU 0.5, point mean distance and hit rate.
    package var evalMetrics = EvalMetricCells()
    /// Issue 24: each grader's mean score over the step's rollouts (steps of a job with
    /// `reward.graders`), the `reward_<name>` columns after `columns`.
    package var graderScores: [String: Double] = [:]

    package struct EvalMetricCells: Sendable, Equatable {
        package var queryAccuracy: Double?
        package var detectPrecision: Double?
        package var detectRecall: Double?
        package var detectF1: Double?
        package var pointMeanDistance: Double?
        package var pointHitRate: Double?

        init(_ perSkill: [String: EvalMetricsText.Figures] = [:]) {
            queryAccuracy = perSkill["query"]?.accuracy
            (detectPrecision, detectRecall, detectF1) = (perSkill["detect"]?.precision, perSkill["detect"]?.recall, perSkill["detect"]?.f1)
            (pointMeanDistance, pointHitRate) = (perSkill["point"]?.meanDistance, perSkill["point"]?.hitRate)
        }

        static let columns = ["accuracy_query", "precision_detect", "recall_detect", "f1_detect", "mean_distance_point", "hit_rate_point"]
        var values: [Double?] { [queryAccuracy, detectPrecision, detectRecall, detectF1, pointMeanDistance, pointHitRate] }
    }

    /// The skills that get a `reward_<skill>` column, in column order.
    package static let skills = ["point", "detect", "query"]

    package static let columns = ["kind", "step", "at_ms", "reward_mean", "reward_std", "reward_min", "reward_max", "n",
                          "constant_group_fraction", "rollout_latency_ms", "train_latency_ms", "wall_ms", "retries", "reconciled"]
        + skills.map { "reward_\($0)" }
        + ["mode", "lr", "server_step", "kl", "router_kl", "grad_norm", "sft_loss", "server_reward_mean", "server_reward_std"]
        + ["groups_tried", "groups_kept", "groups_dropped", "skipped", "answer_length_mean", "truncation_rate"]
        + EvalMetricCells.columns

    /// The row of an applied step; per-skill figures and the count come from its metrics JSON.
    package init(step record: StepRecord) {
        kind = .step
        step = record.k
        atMs = record.appliedAtMs
        rewardMean = record.rewardMean
        rewardStd = record.rewardStd
        rewardMin = record.rewardMin
        rewardMax = record.rewardMax
        constantGroupFraction = record.constantGroupFraction
        rolloutLatencyMs = record.rolloutLatencyMs
        trainLatencyMs = record.trainLatencyMs
        wallMs = record.wallMs
        retries = record.retries
        reconciled = record.reconciled
        mode = record.mode?.rawValue
        lr = record.lr
        serverStep = record.serverStep
        train = record.train
        (groupsTried, groupsKept, groupsDropped, skipped) = (record.groupsTried, record.groupsKept, record.groupsDropped, record.skipped)
        (answerLengthMean, truncationRate) = (record.answerLengthMean, record.truncationRate)
        if let json = record.metricsJSON, let metrics = try? JSONDecoder().decode(StepMetricsJSON.self, from: Data(json.utf8)) {
            n = metrics.rewards?.count
            perSkill = metrics.perSkill?.mapValues(\.mean) ?? [:]
        }
    }

    /// The row of an eval.
    package init(eval record: EvalRecord) {
        kind = .eval
        step = record.step
        atMs = record.atMs
        rewardMean = record.rewardMean
        n = record.count
        if let summaries = try? JSONDecoder().decode([String: Summary].self, from: Data(record.perSkillJSON.utf8)) {
            perSkill = summaries.mapValues(\.mean)
            evalMetrics = EvalMetricCells(EvalMetricsText.figures(perSkillJSON: record.perSkillJSON))
            rewardMin = summaries.values.compactMap(\.min).min()
            rewardMax = summaries.values.compactMap(\.max).max()
        }
    }

    /// The cells in `columns` order; nil for an absent figure.
    package var cells: [Cell?] {
        let fixed: [Cell?] = [
            .text(kind.rawValue), .int(Int64(step)), atMs.map(Cell.int), rewardMean.map(Cell.number), rewardStd.map(Cell.number),
            rewardMin.map(Cell.number), rewardMax.map(Cell.number), n.map { .int(Int64($0)) }, constantGroupFraction.map(Cell.number),
            rolloutLatencyMs.map(Cell.number), trainLatencyMs.map(Cell.number), wallMs.map(Cell.number),
            retries.map { .int(Int64($0)) }, reconciled.map(Cell.bool),
        ]
        let server: [Cell?] = [
            mode.map(Cell.text), lr.map(Cell.number), serverStep.map { .int(Int64($0)) }, train.kl.map(Cell.number),
            train.routerKL.map(Cell.number), train.gradNorm.map(Cell.number), train.sftLoss.map(Cell.number),
            train.rewardMean.map(Cell.number), train.rewardStd.map(Cell.number),
        ]
        let signal: [Cell?] = [
            groupsTried.map { .int(Int64($0)) }, groupsKept.map { .int(Int64($0)) }, groupsDropped.map { .int(Int64($0)) },
            skipped.map(Cell.bool), answerLengthMean.map(Cell.number), truncationRate.map(Cell.number),
        ]
        return fixed + Self.skills.map { perSkill[$0].map(Cell.number) } + server + signal + evalMetrics.values.map { $0.map(Cell.number) }
    }

    package enum Cell: Equatable, Sendable {
        case text(String)
        case int(Int64)
        case number(Double)
        case bool(Bool)
    }

    package struct Summary: Decodable {
        package var mean: Double
        package var min: Double?
        package var max: Double?
    }

    /// The parts of a step's `metrics_json` that the export reads.
    package struct StepMetricsJSON: Decodable {
        package struct Rewards: Decodable { var count: Int }
        package var rewards: Rewards?
        package var perSkill: [String: Summary]?
        package enum CodingKeys: String, CodingKey { case rewards, perSkill = "per_skill" }
    }
}
