import MoontuneJSON
import MoontuneDomain

extension JobConfig {
    /// The resolved config as a JSON value, in the config file's own shape and key names.
    package func snapshot() -> JSONValue {
        .members([
            "name": .string(name),
            "rank": .int(rank),
            "api": .members([
                "base_url": .string(api.baseURL),
                "api_key_env": .string(api.apiKeyEnv),
                "request_timeout_s": .double(api.requestTimeoutSeconds),
                "max_attempts": .int(api.maxAttempts),
                "give_up_after_s": .double(api.giveUpAfterSeconds),
                "max_backoff_s": .double(api.maxBackoffSeconds),
                "train_step_timeout_s": .double(api.trainStepTimeoutSeconds),
                "in_doubt_wait_s": .double(api.inDoubtWaitSeconds),
                "push_metrics": .bool(api.pushMetrics),
                "max_response_bytes": .int(api.maxResponseBytes),
                "max_requests_per_s": api.maxRequestsPerSecond.map { .double($0) },
            ]),
            "data": .members([
                "train": .string(data.train.path),
                "eval": data.eval.map { .string($0.path) },
                "max_image_bytes": .int(data.maxImageBytes),
                "allow_absolute_paths": .bool(data.allowAbsolutePaths),
            ]),
            "train": .members([
                "steps": .int(train.steps),
                "groups_per_step": .int(train.groupsPerStep),
                "rollouts_per_group": .int(train.rolloutsPerGroup),
                "lr": .double(train.lr),
                "seed": .number(JSONNumber(train.seed)),
                "concurrency": .int(train.concurrency),
                "max_staleness": .int(train.maxStaleness),
                "reasoning": .bool(train.reasoning),
                "settings": Self.settingsJSON(train.settings, skills: train.skillSettings),
                "sft_steps": .int(train.sftSteps),
                "skip_constant_groups": .bool(train.skipConstantGroups),
                "lr_schedule": .members([
                    "type": .string(train.lrSchedule.kind.rawValue),
                    "warmup_steps": .int(train.lrSchedule.warmupSteps),
                    "final_lr": .double(train.lrSchedule.finalLR ?? 0.1 * train.lr),
                ]),
            ]),
            "checkpoint": .members([
                "every_steps": .int(checkpoint.everySteps),
                "keep_last": .int(checkpoint.keepLast),
                "keep_best": .bool(checkpoint.keepBest),
            ]),
            "eval": eval.map { .members(["every_steps": .int($0.everySteps), "max_examples": .int($0.maxExamples)]) },
            "budget": budget.map { .members(["max_rollouts": $0.maxRollouts.map(JSONValue.int),
                                             "max_hours": $0.maxHours.map(JSONValue.double)]) },
            "early_stop": earlyStop.map { .members(["patience": .int($0.patience), "min_delta": .double($0.minDelta)]) },
            "tracking": tracking.map { tracking in .members([
                "tensorboard": tracking.tensorboard.map { .members(["logdir": .string($0.logdir.path)]) },
                "mlflow": tracking.mlflow.map { .members(["tracking_uri": .string($0.trackingURI), "experiment": .string($0.experiment)]) },
            ]) },
            "reward": .members([
                "source": .string(reward.source.rawValue),
                "detect": .string(reward.detect.rawValue),
                "query": .string(reward.query.rawValue),
                "numeric_tolerance": .double(reward.numericTolerance),
                "command": reward.command.map { .list($0.map(JSONValue.string)) },
                "command_timeout_s": .double(reward.commandTimeoutSeconds),
                "graders": reward.graders.isEmpty ? nil : .list(reward.graders.map(\.snapshot)),
            ]),
        ])
    }

    package static func settingsJSON(_ settings: SamplingSettings, skills: [Skill: SamplingSettings] = [:]) -> JSONValue {
        let pairs: [(String, JSONValue?)] = [
            ("temperature", settings.temperature.map(JSONValue.double)),
            ("top_p", settings.topP.map(JSONValue.double)),
            ("max_tokens", settings.maxTokens.map(JSONValue.int)),
            ("max_objects", settings.maxObjects.map(JSONValue.int)),
        ] + Skill.allCases.compactMap { skill in skills[skill].map { (skill.rawValue, settingsJSON($0)) } }
        return .object(pairs.compactMap { key, value in value.map { JSONMember(key: key, node: JSONNode($0)) } })
    }
}
