import Foundation
import MoondreamAPI
import MoontuneStore

/// What `status` knows about one job, read from the database alone. Encodes to the document in
/// CONTRACT.md (`status --json`), with extra fields after the contract's.
struct JobStatusReport: Encodable, Sendable {
    var name: String
    var finetuneID: String?
    var state: String
    var step: Int
    var totalSteps: Int
    var lastCheckpointStep: Int?
    var rewardMean: Double?
    var pid: Int32?
    var updatedAtMs: Int64
    var lastError: String?
    // Beyond the contract:
    var host: String?
    var heartbeatMs: Int64?
    var heartbeatAgeSeconds: Double?
    var startedAtMs: Int64?
    var createdAtMs: Int64
    var stepsPerMinute: Double?
    var etaSeconds: Double?
    var rewardStd: Double?
    var recentRewardMeans: [Double]
    var perSkill: [String: SkillReward]
    var lastEval: EvalReport?
    var checkpoints: [CheckpointReport]
    var retries: Int
    var reconciliations: Int
    var pendingIntent: Int?
    var baseURL: String
    var configPath: String

    struct SkillReward: Encodable, Sendable {
        var mean: Double
        var std: Double
        var n: Int
    }

    struct EvalReport: Encodable, Sendable {
        var step: Int
        var rewardMean: Double
        var n: Int
        var atMs: Int64
        enum CodingKeys: String, CodingKey { case step, rewardMean = "reward_mean", n, atMs = "at_ms" }
    }

    struct CheckpointReport: Encodable, Sendable {
        var step: Int
        var checkpointID: String
        var kind: String
        var model: String
        var savedAtMs: Int64
        var deletedAtMs: Int64?
        enum CodingKeys: String, CodingKey {
            case step, checkpointID = "checkpoint_id", kind, model, savedAtMs = "saved_at_ms", deletedAtMs = "deleted_at_ms"
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, finetuneID = "finetune_id", state, step, totalSteps = "total_steps", lastCheckpointStep = "last_checkpoint_step"
        case rewardMean = "reward_mean", pid, updatedAtMs = "updated_at_ms", lastError = "last_error"
        case host, heartbeatMs = "heartbeat_ms", heartbeatAgeSeconds = "heartbeat_age_s", startedAtMs = "started_at_ms"
        case createdAtMs = "created_at_ms", stepsPerMinute = "steps_per_minute", etaSeconds = "eta_s", rewardStd = "reward_std"
        case recentRewardMeans = "recent_reward_means", perSkill = "per_skill", lastEval = "last_eval", checkpoints
        case retries, reconciliations, pendingIntent = "pending_intent", baseURL = "base_url", configPath = "config_path"
    }

    /// The contract's fields are always present, `null` when unknown.
    func encode(to encoder: any Encoder) throws {
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
        try container.encode(host, forKey: .host)
        try container.encode(heartbeatMs, forKey: .heartbeatMs)
        try container.encode(heartbeatAgeSeconds, forKey: .heartbeatAgeSeconds)
        try container.encode(startedAtMs, forKey: .startedAtMs)
        try container.encode(createdAtMs, forKey: .createdAtMs)
        try container.encode(stepsPerMinute, forKey: .stepsPerMinute)
        try container.encode(etaSeconds, forKey: .etaSeconds)
        try container.encode(rewardStd, forKey: .rewardStd)
        try container.encode(recentRewardMeans, forKey: .recentRewardMeans)
        try container.encode(perSkill, forKey: .perSkill)
        try container.encode(lastEval, forKey: .lastEval)
        try container.encode(checkpoints, forKey: .checkpoints)
        try container.encode(retries, forKey: .retries)
        try container.encode(reconciliations, forKey: .reconciliations)
        try container.encode(pendingIntent, forKey: .pendingIntent)
        try container.encode(baseURL, forKey: .baseURL)
        try container.encode(configPath, forKey: .configPath)
    }
}

/// Derives the displayed state: `interrupted` when the record says running but the runner is gone.
enum LivenessCheck {
    /// A heartbeat older than this means the runner is not making progress.
    static let staleAfterMs: Int64 = 30_000

    static func displayedState(_ job: JobRecord, databasePath: String, now: Int64) -> String {
        guard job.state == .running else { return job.state.rawValue }
        let stale = job.heartbeatMs.map { now - $0 > staleAfterMs } ?? true
        if stale { return "interrupted" }
        if job.host == ProcessInfo.processInfo.hostName {
            // On this machine the lock tells for sure; a pid alone could have been reused.
            if !JobLock.isHeld(databasePath: databasePath, jobName: job.name) { return "interrupted" }
            if let pid = job.pid, kill(pid, 0) != 0 && errno == ESRCH { return "interrupted" }
        }
        return "running"
    }
}

extension JobStatusReport {
    /// Builds the report of one job from the database.
    static func load(_ job: JobRecord, store: ProgressStore, databasePath: String, now: Int64 = ProgressStore.nowMs()) async throws -> JobStatusReport {
        let jobID = job.id ?? 0
        let recent = try await store.recentSteps(jobID: jobID, count: 60)
        let step = try await store.lastAppliedStep(jobID: jobID)
        let pending = try await store.pendingIntent(jobID: jobID)
        let checkpoints = try await store.checkpoints(jobID: jobID)
        let evals = try await store.evals(jobID: jobID)
        let counts = try await store.eventCounts(jobID: jobID)
        let retries = try await store.totalRetries(jobID: jobID)
        let state = LivenessCheck.displayedState(job, databasePath: databasePath, now: now)

        // Step rate from the recent steps of the current run.
        var rate: Double?
        let timed = recent.compactMap(\.appliedAtMs)
        if timed.count >= 2, let first = timed.first, let last = timed.last, last > first {
            rate = Double(timed.count - 1) / (Double(last - first) / 60_000)
        }
        var perSkill: [String: SkillReward] = [:]
        for record in recent.suffix(10) {
            guard let json = record.metricsJSON, let data = json.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let skills = object["per_skill"] as? [String: [String: Any]] else { continue }
            for (skill, summary) in skills {
                guard let mean = summary["mean"] as? Double, let std = summary["std"] as? Double, let n = summary["count"] as? Int else { continue }
                // The most recent step's figures per skill.
                perSkill[skill] = SkillReward(mean: mean, std: std, n: n)
            }
        }
        let live = checkpoints.filter(\.isLive)
        return JobStatusReport(
            name: job.name, finetuneID: job.finetuneID, state: state, step: step, totalSteps: job.totalSteps,
            lastCheckpointStep: live.map(\.step).max(), rewardMean: recent.last?.rewardMean, pid: job.pid, updatedAtMs: job.updatedAtMs,
            lastError: job.lastError, host: job.host, heartbeatMs: job.heartbeatMs,
            heartbeatAgeSeconds: job.heartbeatMs.map { Double(now - $0) / 1000 }, startedAtMs: job.startedAtMs, createdAtMs: job.createdAtMs,
            stepsPerMinute: rate, etaSeconds: rate.flatMap { $0 > 0 && state == "running" ? Double(job.totalSteps - step) / $0 * 60 : nil },
            rewardStd: recent.last?.rewardStd, recentRewardMeans: recent.compactMap(\.rewardMean), perSkill: perSkill,
            lastEval: evals.last.map { EvalReport(step: $0.step, rewardMean: $0.rewardMean, n: $0.count, atMs: $0.atMs) },
            checkpoints: checkpoints.map {
                CheckpointReport(step: $0.step, checkpointID: $0.checkpointID, kind: $0.kind.rawValue,
                                 model: inferenceModel(finetuneID: job.finetuneID ?? "?", step: $0.step), savedAtMs: $0.savedAtMs,
                                 deletedAtMs: $0.deletedAtMs)
            },
            retries: retries, reconciliations: counts["reconciled"] ?? 0, pendingIntent: pending?.k, baseURL: job.baseURL,
            configPath: job.configPath)
    }
}
