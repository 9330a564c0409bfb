import MoontuneJSON
import Foundation
import MoontuneDomain

/// Turns the JSON tree of a config into a `JobConfig`, reporting every problem to a sink.
package struct ConfigDecoder {
    package let sink: ProblemSink
    package let configURL: URL

    package static let topKeys = ["name", "rank", "api", "data", "train", "checkpoint", "eval", "reward", "budget", "early_stop", "notify", "tracking"]
    package static let budgetKeys = ["max_rollouts", "max_hours"]
    package static let earlyStopKeys = ["patience", "min_delta"]
    package static let apiKeys = ["base_url", "api_key_env", "request_timeout_s", "max_attempts", "give_up_after_s", "max_backoff_s",
                          "in_doubt_wait_s", "max_response_bytes", "train_step_timeout_s", "push_metrics",
                          "max_requests_per_s"]
    package static let dataKeys = ["train", "eval", "max_image_bytes", "allow_absolute_paths"]
    package static let trainKeys = ["steps", "groups_per_step", "rollouts_per_group", "lr", "seed", "concurrency",
                            "max_staleness", "reasoning", "settings", "sft_steps", "lr_schedule",
                            "skip_constant_groups"]
    package static let lrScheduleKeys = ["type", "warmup_steps", "final_lr"]
    package static let settingsKeys = ["temperature", "top_p", "max_tokens", "max_objects", "point", "detect", "query"]
    package static let skillSettingsKeys = ["temperature", "top_p", "max_tokens", "max_objects"]
    package static let checkpointKeys = ["every_steps", "keep_last", "keep_best"]
    package static let evalKeys = ["every_steps", "max_examples"]
    package static let rewardKeys = ["source", "detect", "query", "numeric_tolerance", "command", "command_timeout_s", "graders"]

    // Upper bounds. Beyond them a value is a typo, and some would overflow later: durations
    // become nanosecond counts, step and group counts size arrays and step arithmetic.
    package static let maxSteps = 100_000_000
    package static let maxGroupsPerStep = 1024
    package static let maxConcurrency = 1024
    package static let maxStaleness = 100
    /// About 115 days: any time setting longer than this is a mistake.
    package static let maxSeconds: Double = 10_000_000

    /// Names other tools use, mapped to ours.
    package static let aliases: [String: [String: String]] = [
        "": ["lora_rank": "rank", "job_name": "name", "finetune_name": "name", "evaluation": "eval",
             "checkpoints": "checkpoint", "rewards": "reward", "dataset": "data", "training": "train"],
        "api": ["url": "base_url", "endpoint": "base_url", "api_key": "api_key_env", "key_env": "api_key_env",
                "timeout_s": "request_timeout_s", "timeout": "request_timeout_s", "retries": "max_attempts"],
        "data": ["train_file": "train", "training": "train", "eval_file": "eval", "validation": "eval",
                 "val": "eval", "test": "eval"],
        "train": ["learning_rate": "lr", "num_rollouts": "rollouts_per_group", "rollouts": "rollouts_per_group",
                  "batch_size": "groups_per_step", "groups": "groups_per_step", "max_steps": "steps",
                  "num_steps": "steps", "sampling": "settings", "random_seed": "seed"],
        "train.settings": ["temp": "temperature", "max_new_tokens": "max_tokens", "nucleus": "top_p"],
        "train.settings.point": ["temp": "temperature", "max_new_tokens": "max_tokens", "nucleus": "top_p"],
        "train.settings.detect": ["temp": "temperature", "max_new_tokens": "max_tokens", "nucleus": "top_p"],
        "train.settings.query": ["temp": "temperature", "max_new_tokens": "max_tokens", "nucleus": "top_p"],
        "checkpoint": ["every": "every_steps", "save_every": "every_steps", "interval": "every_steps",
                       "keep": "keep_last"],
        "eval": ["every": "every_steps", "max_samples": "max_examples", "examples": "max_examples"],
        "reward": ["program": "command", "cmd": "command", "timeout_s": "command_timeout_s", "tolerance": "numeric_tolerance"],
    ]

    /// For a key written in the wrong section: the section it belongs in.
    package static let sectionOfKey: [String: String] = {
        var map: [String: String] = [:]
        let sections: [(String, [String])] = [("api", apiKeys), ("data", dataKeys), ("train", trainKeys),
                                              ("train.settings", settingsKeys), ("checkpoint", checkpointKeys),
                                              ("reward", rewardKeys), ("", topKeys)]
        for (section, keys) in sections.reversed() {
            for key in keys { map[key] = section.isEmpty ? "the top level" : section }
        }
        return map
    }()

    package func decode(_ root: JSONNode) -> ConfigDecoding {
        let folder = configURL.deletingLastPathComponent()
        var config = JobConfig.placeholder(configURL)
        guard let top = ObjectReader(root, path: "", sink: sink) else {
            return ConfigDecoding(config: config, trainGiven: false, problems: sink.problems, warnings: [])
        }
        check(top, Self.topKeys)

        if let name = top.string("name", required: true) {
            config.name = name
            top.check("name", !name.isEmpty && name.unicodeScalars.allSatisfy(Self.isNameCharacter),
                      "\"\(name)\" has characters the API refuses (use letters, digits, '-' and '_')")
        }
        if let rank = top.int("rank", required: true) {
            config.rank = rank
            top.check("rank", [8, 16, 24, 32].contains(rank), "must be 8, 16, 24 or 32, got \(rank)")
        }
        if let api = top.object("api") { config.api = decodeAPI(api) }
        var trainGiven = false
        var referenceLines: [String: Int] = [:]
        if let data = top.required("data", "an object with at least \"train\"").flatMap({ ObjectReader($0, path: "data", sink: sink) }) {
            let (section, given) = decodeData(data, folder: folder)
            config.data = section
            trainGiven = given
            for key in ["train", "eval"] { referenceLines["data.\(key)"] = sink.line(of: data.value(key)) }
        }
        if let train = top.required("train", "an object with at least \"steps\"").flatMap({ ObjectReader($0, path: "train", sink: sink) }) {
            config.train = decodeTrain(train)
        }
        config.checkpoint = CheckpointConfig(everySteps: config.train.steps)
        if let checkpoint = top.object("checkpoint") { decodeCheckpoint(checkpoint, into: &config.checkpoint) }

        let evalSection = top.object("eval")
        if config.data.eval != nil {
            var eval = EvalConfig(everySteps: config.checkpoint.everySteps)
            if let evalSection { decodeEval(evalSection, into: &eval) }
            config.eval = eval
        } else if let evalSection {
            var ignored = EvalConfig(everySteps: 1)
            decodeEval(evalSection, into: &ignored)
            sink.warn("eval", "eval set not given (data.eval); eval disabled", at: evalSection.node)
        }
        if config.checkpoint.keepBest, config.eval == nil {
            sink.warn("checkpoint.keep_best", "has no effect without an eval set (data.eval)", at: top.value("checkpoint"))
        }
        if let reward = top.object("reward") { config.reward = decodeReward(reward) }
        referenceLines.merge(graderLines(top)) { $1 }  // issue 24: for problems found with the dataset
        if let budget = top.object("budget") { config.budget = decodeBudget(budget) }
        if let earlyStop = top.object("early_stop") {
            config.earlyStop = decodeEarlyStop(earlyStop)
            if config.eval == nil {
                sink.add("early_stop", "needs an eval set (data.eval): early stop watches the eval reward", at: top.value("early_stop"))
            }
        }
        // notify (issue 13): serve's webhook; the URL must be http(s), the secret a variable's name.
        if let notify = top.object("notify") {
            check(notify, NotifyConfig.keys)
            if let url = notify.string("webhook_url", required: true),
               notify.check("webhook_url", URL(string: url).map { ["http", "https"].contains($0.scheme ?? "") && $0.host != nil } ?? false,
                            "must be an http:// or https:// URL, got \"\(url)\"") {
                config.notify = NotifyConfig(webhookURL: url, secretEnv: notify.string("secret_env"))
            }
        }
        // tracking (issue 23): TensorBoard and MLflow (TrackingConfig.swift).
        if let tracking = top.object("tracking") { config.tracking = decodeTracking(tracking, folder: folder) }
        return ConfigDecoding(config: config, trainGiven: trainGiven, problems: sink.problems.sortedByLine(), warnings: sink.warnings,
                              referenceLines: referenceLines)
    }

    private func check(_ reader: ObjectReader, _ known: [String]) {
        let elsewhere = Self.sectionOfKey.filter { $0.value != (reader.path.isEmpty ? "the top level" : reader.path) }
        reader.checkKeys(known, aliases: Self.aliases[reader.path] ?? [:], elsewhere: elsewhere)
    }

    package static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_")
    }

    // MARK: - Sections

    private func decodeAPI(_ api: ObjectReader) -> APIConfig {
        check(api, Self.apiKeys)
        var result = APIConfig()
        if let base = api.string("base_url") {
            var trimmed = base
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            let url = URL(string: trimmed)
            let valid = url.map { ["http", "https"].contains($0.scheme?.lowercased() ?? "") && !($0.host ?? "").isEmpty } ?? false
            if api.check("base_url", valid, "expected an http or https URL such as https://api.moondream.ai/v1, got \"\(base)\"") {
                result.baseURL = trimmed
            }
        }
        if let variable = api.string("api_key_env") {
            let valid = !variable.isEmpty && variable.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
                && !(variable.first?.isNumber ?? true)
            if api.check("api_key_env", valid, "expected the name of an environment variable (letters, digits, '_'), not a key") {
                result.apiKeyEnv = variable
            }
        }
        positive(api, "request_timeout_s", &result.requestTimeoutSeconds, atMost: Self.maxSeconds)
        positive(api, "train_step_timeout_s", &result.trainStepTimeoutSeconds, atMost: Self.maxSeconds)
        if let push = api.bool("push_metrics") { result.pushMetrics = push }
        atLeast(api, "max_attempts", 1, &result.maxAttempts)
        positive(api, "give_up_after_s", &result.giveUpAfterSeconds, atMost: Self.maxSeconds)
        if let value = api.double("max_backoff_s"), api.check("max_backoff_s", value >= 0 && value.isFinite, "must be ≥ 0, got \(value)"),
           api.check("max_backoff_s", value <= Self.maxSeconds, "must be at most \(String(format: "%.0f", Self.maxSeconds)) seconds, got \(value)") {
            result.maxBackoffSeconds = value
        }
        if let value = api.double("in_doubt_wait_s"), api.check("in_doubt_wait_s", value >= 0 && value.isFinite, "must be ≥ 0, got \(value)"),
           api.check("in_doubt_wait_s", value <= Self.maxSeconds, "must be at most \(String(format: "%.0f", Self.maxSeconds)) seconds, got \(value)") {
            result.inDoubtWaitOverride = value
        }
        atLeast(api, "max_response_bytes", 1024, &result.maxResponseBytes)
        if let value = api.double("max_requests_per_s"),
           api.check("max_requests_per_s", value > 0 && value.isFinite && value <= 100_000,
                     "must be a number of requests a second > 0 (at most 100000), got \(value)") {
            result.maxRequestsPerSecond = value
        }
        return result
    }

    private func decodeData(_ data: ObjectReader, folder: URL) -> (DataConfig, Bool) {
        check(data, Self.dataKeys)
        let train = data.string("train", required: true)
        var result = DataConfig(train: resolve(train ?? "", folder: folder))
        if let train { data.check("train", !train.isEmpty, "must name a JSONL file") }
        if let eval = data.string("eval") {
            if data.check("eval", !eval.isEmpty, "must name a JSONL file") { result.eval = resolve(eval, folder: folder) }
        }
        atLeast(data, "max_image_bytes", 1, &result.maxImageBytes)
        if let allow = data.bool("allow_absolute_paths") { result.allowAbsolutePaths = allow }
        return (result, !(train ?? "").isEmpty)
    }

    private func decodeTrain(_ train: ObjectReader) -> TrainConfig {
        check(train, Self.trainKeys)
        var result = TrainConfig()
        if let steps = train.int("steps", required: true), train.check("steps", steps >= 1, "must be ≥ 1, got \(steps)"),
           train.check("steps", steps <= Self.maxSteps, "must be at most \(Self.maxSteps), got \(steps)") {
            result.steps = steps
        }
        atLeast(train, "groups_per_step", 1, &result.groupsPerStep, atMost: Self.maxGroupsPerStep)
        if let rollouts = train.int("rollouts_per_group"),
           train.check("rollouts_per_group", (1...16).contains(rollouts), "must be from 1 to 16 (the API's num_rollouts), got \(rollouts)") {
            result.rolloutsPerGroup = rollouts
        }
        positive(train, "lr", &result.lr)
        if let seed = train.uint64("seed") { result.seed = seed }
        atLeast(train, "concurrency", 1, &result.concurrency, atMost: Self.maxConcurrency)
        atLeast(train, "max_staleness", 0, &result.maxStaleness, atMost: Self.maxStaleness)
        if let reasoning = train.bool("reasoning") { result.reasoning = reasoning }
        if let skip = train.bool("skip_constant_groups") { result.skipConstantGroups = skip }
        if let settings = train.object("settings") {
            result.settings = decodeSettings(settings)
            for skill in Skill.allCases {
                if let own = settings.object(skill.rawValue) { result.skillSettings[skill] = decodeSkillSettings(own) }
            }
        }
        if let schedule = train.object("lr_schedule") { result.lrSchedule = decodeLRSchedule(schedule, steps: result.steps) }
        if let sft = train.int("sft_steps"), train.check("sft_steps", sft >= 0, "must be ≥ 0, got \(sft)"),
           train.check("sft_steps", sft <= result.steps, "must be at most train.steps (\(result.steps)), got \(sft)") {
            result.sftSteps = sft
        }
        return result
    }

    private func decodeLRSchedule(_ schedule: ObjectReader, steps: Int) -> LRSchedule {
        check(schedule, Self.lrScheduleKeys)
        var result = LRSchedule()
        if let kind = schedule.choice("type", LRSchedule.Kind.allCases.map(\.rawValue)).flatMap(LRSchedule.Kind.init) {
            result.kind = kind
        }
        if let warmup = schedule.int("warmup_steps"), schedule.check("warmup_steps", warmup >= 0, "must be ≥ 0, got \(warmup)"),
           schedule.check("warmup_steps", warmup <= steps, "must be at most train.steps (\(steps)), got \(warmup)") {
            result.warmupSteps = warmup
        }
        if let final = schedule.double("final_lr"),
           schedule.check("final_lr", final >= 0 && final.isFinite, "must be ≥ 0, got \(final)") {
            result.finalLR = final
        }
        return result
    }

    /// One skill's own settings: only what is given, the rest inherited from the shared ones.
    private func decodeSkillSettings(_ settings: ObjectReader) -> SamplingSettings {
        check(settings, Self.skillSettingsKeys)
        var result = SamplingSettings()
        decodeTemperatureAndTopP(settings, into: &result)
        if let value = settings.int("max_tokens"), settings.check("max_tokens", value >= 1, "must be ≥ 1, got \(value)") {
            result.maxTokens = value
        }
        if let value = settings.int("max_objects"), settings.check("max_objects", value >= 1, "must be ≥ 1, got \(value)") {
            result.maxObjects = value
        }
        return result
    }

    /// `temperature` and `top_p`, read the same way in the shared and the per-skill settings.
    private func decodeTemperatureAndTopP(_ settings: ObjectReader, into result: inout SamplingSettings) {
        if let value = settings.double("temperature"),
           settings.check("temperature", value >= 0 && value.isFinite, "must be ≥ 0, got \(value)") {
            result.temperature = value
        }
        if let value = settings.double("top_p"),
           settings.check("top_p", value > 0 && value <= 1, "must be in (0, 1], got \(value)") {
            result.topP = value
        }
    }

    private func decodeSettings(_ settings: ObjectReader) -> SamplingSettings {
        check(settings, Self.settingsKeys)
        var result = TrainConfig().settings
        decodeTemperatureAndTopP(settings, into: &result)
        var maxTokens = 128
        atLeast(settings, "max_tokens", 1, &maxTokens)
        result.maxTokens = maxTokens
        if let value = settings.int("max_objects"), settings.check("max_objects", value >= 1, "must be ≥ 1, got \(value)") {
            result.maxObjects = value
        }
        return result
    }

    private func decodeCheckpoint(_ checkpoint: ObjectReader, into result: inout CheckpointConfig) {
        check(checkpoint, Self.checkpointKeys)
        atLeast(checkpoint, "every_steps", 1, &result.everySteps)
        atLeast(checkpoint, "keep_last", 0, &result.keepLast)
        if let keepBest = checkpoint.bool("keep_best") { result.keepBest = keepBest }
    }

    private func decodeEval(_ eval: ObjectReader, into result: inout EvalConfig) {
        check(eval, Self.evalKeys)
        atLeast(eval, "every_steps", 1, &result.everySteps)
        atLeast(eval, "max_examples", 1, &result.maxExamples)
    }

    private func decodeBudget(_ budget: ObjectReader) -> BudgetConfig {
        check(budget, Self.budgetKeys)
        var result = BudgetConfig()
        if let rollouts = budget.int("max_rollouts"), budget.check("max_rollouts", rollouts >= 1, "must be ≥ 1, got \(rollouts)") {
            result.maxRollouts = rollouts
        }
        if let hours = budget.double("max_hours"), budget.check("max_hours", hours > 0 && hours.isFinite, "must be > 0, got \(hours)"),
           budget.check("max_hours", hours * 3600 <= Self.maxSeconds, "must be at most \(Int(Self.maxSeconds / 3600)) hours, got \(hours)") {
            result.maxHours = hours
        }
        return result
    }

    private func decodeEarlyStop(_ earlyStop: ObjectReader) -> EarlyStopConfig {
        check(earlyStop, Self.earlyStopKeys)
        var result = EarlyStopConfig(patience: 3)
        if let patience = earlyStop.int("patience", required: true),
           earlyStop.check("patience", patience >= 1, "must be ≥ 1, got \(patience)") {
            result.patience = patience
        }
        if let delta = earlyStop.double("min_delta"),
           earlyStop.check("min_delta", delta >= 0 && delta.isFinite, "must be ≥ 0, got \(delta)") {
            result.minDelta = delta
        }
        return result
    }

    private func decodeReward(_ reward: ObjectReader) -> RewardConfig {
        check(reward, Self.rewardKeys)
        var result = RewardConfig()
        if let source = reward.choice("source", RewardSource.allCases.map(\.rawValue)).flatMap(RewardSource.init) {
            result.source = source
        }
        if let detect = reward.choice("detect", DetectReward.allCases.map(\.rawValue)).flatMap(DetectReward.init) {
            result.detect = detect
        }
        if let query = reward.choice("query", QueryMatch.allCases.map(\.rawValue)).flatMap(QueryMatch.init) {
            result.query = query
        }
        if let tolerance = reward.double("numeric_tolerance"),
           reward.check("numeric_tolerance", tolerance >= 0 && tolerance.isFinite, "must be ≥ 0, got \(tolerance)") {
            result.numericTolerance = tolerance
        }
        if let command = reward.stringArray("command") {
            let valid = !command.isEmpty && !command[0].isEmpty
            if reward.check("command", valid, "must be a non-empty array such as [\"python3\", \"reward.py\"]") {
                result.command = command
            }
        }
        positive(reward, "command_timeout_s", &result.commandTimeoutSeconds, atMost: Self.maxSeconds)
        if let graders = decodeGraders(reward) { result.graders = graders }  // issue 24: ConfigDecoder+Graders.swift
        return result
    }

    // MARK: - Helpers

    private func atLeast(_ reader: ObjectReader, _ key: String, _ minimum: Int, _ target: inout Int, atMost maximum: Int = .max) {
        if let value = reader.int(key), reader.check(key, value >= minimum, "must be ≥ \(minimum), got \(value)"),
           reader.check(key, value <= maximum, "must be at most \(maximum), got \(value)") {
            target = value
        }
    }

    private func positive(_ reader: ObjectReader, _ key: String, _ target: inout Double, atMost maximum: Double = .greatestFiniteMagnitude) {
        if let value = reader.double(key), reader.check(key, value > 0 && value.isFinite, "must be > 0, got \(value)"),
           reader.check(key, value <= maximum, "must be at most \(String(format: "%.0f", maximum)) seconds, got \(value)") {
            target = value
        }
    }

    private func resolve(_ path: String, folder: URL) -> URL {
        let expanded = (path as NSString).expandingTildeInPath
        return URL(fileURLWithPath: expanded, relativeTo: folder).standardizedFileURL
    }
}
