import MoontuneConfig
import MoontuneDataset
import MoontuneRewards
import MoontuneJSON
import Crypto
import Foundation

/// The settings that change what training does. A job refuses to resume when they differ from
/// the ones it started with, and says which changed. Steps, concurrency, checkpoint and eval
/// cadence, staleness and the API section are left out: they may change between runs.
public struct TrainingFingerprint: Sendable, Codable, Equatable {
    /// Setting name (the config's JSON path) → value as text.
    public var components: [String: String]
    /// SHA-256 of the sorted components.
    public var digest: String

    public init(components: [String: String]) {
        self.components = components
        var hash = SHA256()
        for key in components.keys.sorted() {
            hash.update(data: Array("\(key)=\(components[key] ?? "")\n".utf8))
        }
        digest = hash.finalize().hexString
    }

    /// What differs from `old`, one entry per setting: `"train.lr: 0.002 → 0.003"`.
    public func changes(from old: TrainingFingerprint) -> [String] {
        Set(components.keys).union(old.components.keys).sorted().compactMap { key in
            let before = old.components[key], after = components[key]
            guard before != after else { return nil }
            return "\(key): \(before ?? "(not set)") → \(after ?? "(not set)")"
        }
    }
}

extension JobConfig {
    /// The fingerprint of this config with the train set `train` (its content, not its mtime).
    public func trainingFingerprint(train dataset: DatasetFingerprint) -> TrainingFingerprint {
        let settings = train.settings
        var components: [String: String] = [
            "rank": String(rank),
            "train.seed": String(train.seed),
            "train.lr": "\(train.lr)",
            "train.groups_per_step": String(train.groupsPerStep),
            "train.rollouts_per_group": String(train.rolloutsPerGroup),
            "train.reasoning": String(train.reasoning),
            "train.settings.temperature": settings.temperature.map { "\($0)" } ?? "default",
            "train.settings.top_p": settings.topP.map { "\($0)" } ?? "default",
            "train.settings.max_tokens": settings.maxTokens.map(String.init) ?? "default",
            "train.settings.max_objects": settings.maxObjects.map(String.init) ?? "default",
            "reward.source": reward.source.rawValue,
            "reward.detect": reward.detect.rawValue,
            "reward.query": reward.query.rawValue,
            "reward.numeric_tolerance": "\(reward.numericTolerance)",
            "reward.command": reward.command.map { JSONValue.list($0.map(JSONValue.string)).serialized() } ?? "none",
            "data.train": "sha256:\(dataset.sha256), \(dataset.byteCount) bytes",
        ]
        // Settings added later enter the fingerprint only when set, so that a job recorded by an
        // earlier version (which did not have them) still resumes.
        if train.sftSteps > 0 { components["train.sft_steps"] = String(train.sftSteps) }
        // Absent from an older job's fingerprint, which so reads as `false`.
        if train.skipConstantGroups { components["train.skip_constant_groups"] = "true" }
        // Issue 24: the graders define the reward; absent from older jobs, which had none.
        if !reward.graders.isEmpty { components["reward.graders"] = JSONValue.list(reward.graders.map(\.snapshot)).serialized(sortedKeys: true) }
        // A schedule other than the constant one depends on the number of steps too: extending
        // such a job would change the lr of the steps still to come.
        if !train.lrSchedule.isDefault {
            let schedule = train.lrSchedule
            components["train.lr_schedule"] = "\(schedule.kind.rawValue), warm-up \(schedule.warmupSteps), final lr "
                + "\(schedule.finalLR ?? 0.1 * train.lr)" + (schedule.kind == .constant ? "" : ", over \(train.steps) steps")
        }
        for (skill, own) in train.skillSettings {
            let prefix = "train.settings.\(skill.rawValue)"
            if let value = own.temperature { components["\(prefix).temperature"] = "\(value)" }
            if let value = own.topP { components["\(prefix).top_p"] = "\(value)" }
            if let value = own.maxTokens { components["\(prefix).max_tokens"] = String(value) }
            if let value = own.maxObjects { components["\(prefix).max_objects"] = String(value) }
        }
        return TrainingFingerprint(components: components)
    }
}
