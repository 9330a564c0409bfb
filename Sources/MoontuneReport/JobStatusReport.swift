import Foundation
import MoondreamAPI
import MoontuneStore

/// What `status` knows about one job, read from the database alone. Encodes to the document in
/// CONTRACT.md (`status --json`) plus extra fields; every field is always present (`null` when
/// unknown), and `status --json` sorts the keys so that the output is stable.
package struct JobStatusReport: Encodable, Sendable {
    package var name: String
    package var finetuneID: String?
    package var state: String
    package var step: Int
    package var totalSteps: Int
    package var lastCheckpointStep: Int?
    package var rewardMean: Double?
    package var pid: Int32?
    package var updatedAtMs: Int64
    package var lastError: String?
    /// What the runner waits on the API for, or nil; only while the job is running.
    package var waiting: WaitRecord? = nil
    /// Why the job last stopped: `signal`, or nil.
    package var stopReason: String? = nil
    // Beyond the contract:
    package var host: String?
    package var heartbeatMs: Int64?
    package var heartbeatAgeSeconds: Double?
    package var startedAtMs: Int64?
    package var createdAtMs: Int64
    package var stepsPerMinute: Double?
    package var etaSeconds: Double?
    package var rewardStd: Double?
    package var recentRewardMeans: [Double]
    /// The reward mean over the whole run, averaged into at most `trendWidth` buckets.
    package var rewardTrend: [Double]
    package var perSkill: [String: SkillReward]
    package var lastEval: EvalReport?
    package var checkpoints: [CheckpointReport]
    package var retries: Int
    package var reconciliations: Int
    package var pendingIntent: Int?
    /// What a pending intent is: `in flight` (a live runner is sending it), `in doubt` (its outcome
    /// is unknown and the runner is watching the server), or `awaiting reconciliation` (no runner:
    /// the next run asks the server). Nil without a pending intent.
    package var pendingIntentState: String? = nil
    package var baseURL: String
    package var configPath: String
    /// The finetune's step on the server as last known.
    package var serverStep: Int? = nil
    /// The numbers of the last train_step answer that carried any.
    package var lastTrain: LastTrain? = nil
    /// Things a person should know now, e.g. that the latest checkpoint expires within 24 hours.
    package var warnings: [String] = []
    /// What the job has spent of its `budget`; nil without one.
    package var budget: BudgetReport? = nil
    /// `train.skip_constant_groups`: steps skipped and groups tried, kept and dropped over the
    /// job; nil when no step recorded them.
    package var groupSignal: GroupSignalTotals? = nil
    /// Issue 20: a step concluded "never landed" by waiting, whose late landing the job looks for
    /// (the server's step read once more) before it ends; nil when none is pending.
    package var finalCheck: FinalCheck? = nil

    package struct FinalCheck: Encodable, Sendable, Equatable {
        package var step: Int
        /// When the check may run: one train_step deadline after the conclusion.
        package var afterMs: Int64
        package enum CodingKeys: String, CodingKey { case step, afterMs = "after_ms" }
    }
    /// Issue 24: each grader's mean score at the last applied step; nil without graders.
    package var graders: [String: Double]? = nil
    /// Each tracker (`tracking`, issue 23) with its backlog and last error; empty without tracking.
    package var trackers: [TrackerStatus] = []

    package struct LastTrain: Encodable, Sendable, Equatable {
        package var step: Int
        package var serverStep: Int?
        package var numbers: TrainNumbers

        package enum CodingKeys: String, CodingKey { case step, serverStep = "server_step" }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(step, forKey: .step)
            try container.encode(serverStep, forKey: .serverStep)
            try numbers.encode(to: encoder)
        }
    }

    package struct SkillReward: Encodable, Sendable {
        package var mean: Double
        package var std: Double
        package var n: Int
    }

    package struct EvalReport: Encodable, Sendable {
        package var step: Int
        package var rewardMean: Double
        package var n: Int
        package var atMs: Int64
        /// Each skill's reward mean and count with its metrics (accuracy; precision, recall, f1;
        /// mean_distance, hit_rate), as the eval recorded them.
        package var perSkill: [String: EvalMetricsText.Figures] = [:]
        /// Issue 24: each grader's mean score over the eval's examples; null without graders.
        package var graders: [String: Double]? = nil
        package enum CodingKeys: String, CodingKey {
            case step, rewardMean = "reward_mean", n, atMs = "at_ms", perSkill = "per_skill", graders
        }
    }

    /// A checkpoint as the local record knows it, with its inference model string.
    package struct CheckpointReport: Encodable, Sendable, Equatable {
        package var step: Int
        package var checkpointID: String
        package var kind: String
        /// `saved`, `deleting` (a deletion was sent and not yet confirmed) or `deleted`.
        package var state: String
        package var model: String
        package var savedAtMs: Int64
        package var deletedAtMs: Int64?
        /// When the server deletes it (live service); null when unknown.
        package var expiresAtMs: Int64? = nil
        package enum CodingKeys: String, CodingKey {
            case step, checkpointID = "checkpoint_id", kind, state, model, savedAtMs = "saved_at_ms", deletedAtMs = "deleted_at_ms"
            case expiresAtMs = "expires_at_ms"
        }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(step, forKey: .step)
            try container.encode(checkpointID, forKey: .checkpointID)
            try container.encode(kind, forKey: .kind)
            try container.encode(state, forKey: .state)
            try container.encode(model, forKey: .model)
            try container.encode(savedAtMs, forKey: .savedAtMs)
            try container.encode(deletedAtMs, forKey: .deletedAtMs)  // null while the checkpoint lives
            try container.encode(expiresAtMs, forKey: .expiresAtMs)
        }
    }

    package enum CodingKeys: String, CodingKey {
        case name, finetuneID = "finetune_id", state, step, totalSteps = "total_steps", lastCheckpointStep = "last_checkpoint_step"
        case rewardMean = "reward_mean", pid, updatedAtMs = "updated_at_ms", lastError = "last_error"
        case waiting, stopReason = "stop_reason"
        case host, heartbeatMs = "heartbeat_ms", heartbeatAgeSeconds = "heartbeat_age_s", startedAtMs = "started_at_ms"
        case createdAtMs = "created_at_ms", stepsPerMinute = "steps_per_minute", etaSeconds = "eta_s", rewardStd = "reward_std"
        case recentRewardMeans = "recent_reward_means", rewardTrend = "reward_trend"
        case perSkill = "per_skill", lastEval = "last_eval", checkpoints
        case retries, reconciliations, pendingIntent = "pending_intent", baseURL = "base_url", configPath = "config_path"
        case pendingIntentState = "pending_intent_state", serverStep = "server_step", lastTrain = "last_train", warnings, budget
        case groupSignal = "group_signal", finalCheck = "final_check"
        case graders
        case trackers
    }

    /// Every field is written, `null` when unknown (the synthesized encoding would omit nils).
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(finetuneID, forKey: .finetuneID)
        try container.encode(state, forKey: .state)
        try container.encode(step, forKey: .step)
        try container.encode(totalSteps, forKey: .totalSteps)
        try container.encode(lastCheckpointStep, forKey: .lastCheckpointStep)
        try container.encode(rewardMean, forKey: .rewardMean)
        try container.encode(pid, forKey: .pid)
        try container.encode(updatedAtMs, forKey: .updatedAtMs)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(waiting, forKey: .waiting)
        try container.encode(stopReason, forKey: .stopReason)
        try container.encode(host, forKey: .host)
        try container.encode(heartbeatMs, forKey: .heartbeatMs)
        try container.encode(heartbeatAgeSeconds, forKey: .heartbeatAgeSeconds)
        try container.encode(startedAtMs, forKey: .startedAtMs)
        try container.encode(createdAtMs, forKey: .createdAtMs)
        try container.encode(stepsPerMinute, forKey: .stepsPerMinute)
        try container.encode(etaSeconds, forKey: .etaSeconds)
        try container.encode(rewardStd, forKey: .rewardStd)
        try container.encode(recentRewardMeans, forKey: .recentRewardMeans)
        try container.encode(rewardTrend, forKey: .rewardTrend)
        try container.encode(perSkill, forKey: .perSkill)
        try container.encode(lastEval, forKey: .lastEval)
        try container.encode(checkpoints, forKey: .checkpoints)
        try container.encode(retries, forKey: .retries)
        try container.encode(reconciliations, forKey: .reconciliations)
        try container.encode(pendingIntent, forKey: .pendingIntent)
        try container.encode(baseURL, forKey: .baseURL)
        try container.encode(configPath, forKey: .configPath)
        try container.encode(pendingIntentState, forKey: .pendingIntentState)
        try container.encode(serverStep, forKey: .serverStep)
        try container.encode(lastTrain, forKey: .lastTrain)
        try container.encode(budget, forKey: .budget)
        try container.encode(warnings, forKey: .warnings)
        try container.encode(groupSignal, forKey: .groupSignal)
        try container.encode(finalCheck, forKey: .finalCheck)
        try container.encode(graders, forKey: .graders)
        try container.encode(trackers, forKey: .trackers)
    }
}

extension JobStatusReport {
    /// How many steps the rate (and so the ETA) is measured over.
    package static let rateWindow = 20
    /// How many recent steps the per-skill figures pool.
    package static let skillWindow = 10
    /// The sparkline's width: the whole run, averaged into at most this many buckets.
    package static let trendWidth = 60

    /// Builds the report of one job from the database.
    /// Pass `series` when the caller has already read it.
    package static func load(_ job: JobRecord, store: ProgressStore, databasePath: String, now: Int64 = ProgressStore.nowMs(),
                     series preloaded: [StepPoint]? = nil) async throws -> JobStatusReport {
        let jobID = job.id ?? 0
        var series = preloaded ?? []
        if preloaded == nil { series = try await store.stepSeries(jobID: jobID) }
        let recent = try await store.recentSteps(jobID: jobID, count: skillWindow)
        let pending = try await store.pendingIntent(jobID: jobID)
        let checkpoints = try await store.checkpoints(jobID: jobID)
        let evals = try await store.evals(jobID: jobID)
        let counts = try await store.eventCounts(jobID: jobID)
        let retries = try await store.totalRetries(jobID: jobID)
        let state = JobLiveness.displayedState(job, databasePath: databasePath, now: now)
        let step = series.last?.k ?? 0
        let rate = stepRate(series, since: job.startedAtMs)
        let live = checkpoints.filter(\.isLive)
        let means = series.compactMap(\.rewardMean)
        let trained = try await store.lastTrainedStep(jobID: jobID)
        let signal = try await store.groupSignalTotals(jobID: jobID)
        var pendingState: String?
        if let pending {
            if state == "running" {
                let doubts = try await store.events(jobID: jobID, limit: 5, kinds: ["ambiguous", "in_doubt"])
                pendingState = doubts.contains { $0.step == pending.k && $0.atMs >= pending.intentAtMs } ? "in doubt" : "in flight"
            } else {
                pendingState = "awaiting reconciliation"
            }
        }
        var report = JobStatusReport(
            name: job.name, finetuneID: job.finetuneID, state: state, step: step, totalSteps: job.totalSteps,
            lastCheckpointStep: live.map(\.step).max(), rewardMean: series.last?.rewardMean, pid: job.pid, updatedAtMs: job.updatedAtMs,
            lastError: job.lastError, waiting: state == "running" ? job.waiting : nil, stopReason: job.stopReason, host: job.host, heartbeatMs: job.heartbeatMs,
            heartbeatAgeSeconds: job.heartbeatMs.map { Double(max(0, now - $0)) / 1000 }, startedAtMs: job.startedAtMs,
            createdAtMs: job.createdAtMs, stepsPerMinute: rate,
            etaSeconds: rate.flatMap { $0 > 0 && state == "running" ? Double(max(0, job.totalSteps - step)) / $0 * 60 : nil },
            rewardStd: series.last?.rewardStd, recentRewardMeans: Array(means.suffix(trendWidth)),
            rewardTrend: Downsample.means(means, buckets: trendWidth), perSkill: pooledPerSkill(recent),
            lastEval: evals.last.map { EvalReport(step: $0.step, rewardMean: $0.rewardMean, n: $0.count, atMs: $0.atMs,
                                                  perSkill: EvalMetricsText.figures(perSkillJSON: $0.perSkillJSON),
                                                  graders: $0.graderMeans.isEmpty ? nil : $0.graderMeans) },
            checkpoints: checkpoints.map { CheckpointReport($0, finetuneID: job.finetuneID) },
            retries: retries + (job.retriesOutsideSteps ?? 0), reconciliations: counts["reconciled"] ?? 0, pendingIntent: pending?.k,
            pendingIntentState: pendingState,
            baseURL: job.baseURL, configPath: job.configPath, serverStep: job.serverStep,
            lastTrain: trained.map { LastTrain(step: $0.k, serverStep: $0.serverStep, numbers: $0.train) },
            warnings: warnings(checkpoints: live, now: now) + TrainingWarnings.check(series: series, evals: evals,
                                                                                     truncationRates: recent.compactMap(\.truncationRate)),
            budget: BudgetReport.from(job: job, appliedSteps: step, evals: evals, now: now,
                                      extraGroupsTried: signal?.extraGroupsTried(groupsPerStep: BudgetReport.groupsPerStep(job)) ?? 0),
            groupSignal: signal,
            finalCheck: job.lateCheckStep.map { FinalCheck(step: $0, afterMs: job.lateCheckAfterMs ?? 0) },
            graders: try await store.graderScores(jobID: jobID, steps: step...step)[step])
        report.trackers = try await store.trackerStatuses(jobID: jobID)
        return report
    }

    /// How close to its expiry the latest checkpoint may come before `status` warns.
    package static let expiryWarningMs: Int64 = 24 * 3_600_000

    /// Warnings from the record alone. The latest checkpoint is the only way to resume training
    /// (and its model string stops working), so its coming expiry is one.
    package static func warnings(checkpoints live: [CheckpointRecord], now: Int64) -> [String] {
        var warnings: [String] = []
        if let latest = live.max(by: { $0.step < $1.step }), let expires = latest.expiresAtMs {
            let left = expires - now
            if left <= 0 {
                warnings.append("the latest checkpoint (step \(latest.step)) expired on \(StatusText.date(expires)); "
                    + "the server may no longer resume this finetune")
            } else if left <= expiryWarningMs {
                warnings.append("the latest checkpoint (step \(latest.step)) expires on \(StatusText.date(expires)) "
                    + "(in \(ReportText.duration(seconds: Double(left) / 1000))); it is the only way to resume this job")
            }
        }
        return warnings
    }

    /// Steps per minute over the latest steps of the current run: steps of an earlier run, before
    /// a stop or a crash, would count the pause as slowness.
    package static func stepRate(_ series: [StepPoint], since startedAtMs: Int64?) -> Double? {
        let times = series.compactMap(\.appliedAtMs).filter { $0 >= (startedAtMs ?? 0) }.suffix(rateWindow + 1)
        guard times.count >= 2, let first = times.first, let last = times.last, last > first else { return nil }
        return Double(times.count - 1) / (Double(last - first) / 60_000)
    }

    /// Each skill's reward mean and spread pooled over the given steps (their `per_skill` metrics).
    package static func pooledPerSkill(_ steps: [StepRecord]) -> [String: SkillReward] {
        var sums: [String: (n: Int, sum: Double, squares: Double)] = [:]
        for record in steps {
            guard let json = record.metricsJSON,
                  let metrics = try? JSONDecoder().decode(PerSkillMetrics.self, from: Data(json.utf8)) else { continue }
            for (skill, summary) in metrics.perSkill where summary.count > 0 {
                let n = Double(summary.count)
                var entry = sums[skill] ?? (0, 0, 0)
                entry.n += summary.count
                entry.sum += n * summary.mean
                entry.squares += n * (summary.std * summary.std + summary.mean * summary.mean)
                sums[skill] = entry
            }
        }
        return sums.mapValues { entry in
            let mean = entry.sum / Double(entry.n)
            return SkillReward(mean: mean, std: max(0, entry.squares / Double(entry.n) - mean * mean).squareRoot(), n: entry.n)
        }
    }

    /// The part of a step's `metrics_json` that per-skill figures come from.
    package struct PerSkillMetrics: Decodable {
        package struct Summary: Decodable {
            package var mean: Double
            package var std: Double
            package var count: Int
        }
        package var perSkill: [String: Summary]
        package enum CodingKeys: String, CodingKey { case perSkill = "per_skill" }
    }
}

extension JobStatusReport.CheckpointReport {
    package init(_ record: CheckpointRecord, finetuneID: String?) {
        let state = record.deletedAtMs != nil ? "deleted" : (record.deletingAtMs != nil ? "deleting" : "saved")
        self.init(step: record.step, checkpointID: record.checkpointID, kind: record.kind.rawValue, state: state,
                  model: inferenceModel(finetuneID: finetuneID ?? "?", step: record.stepOnServer), savedAtMs: record.savedAtMs,
                  deletedAtMs: record.deletedAtMs, expiresAtMs: record.expiresAtMs)
    }
}
