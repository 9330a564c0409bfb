import MoontuneJSON
/// A validated `POST /tuning/rollouts` body.
package struct RolloutsInput: Sendable {
    package let finetuneID: String
    package let numRollouts: Int
    /// The request as sent, and the echo answered for it (with an extra member).
    package let request: JSONValue
    package let echo: JSONValue
    package let requestDigest: String
    package let call: SkillCall
    package let groundTruth: SimGroundTruth?

    package init(_ body: JSONValue) throws(APIFailure) {
        let fields = try Fields(body, path: "")
        finetuneID = try fields.nonEmptyString("finetune_id")
        numRollouts = try fields.int("num_rollouts")
        guard (1...16).contains(numRollouts) else { throw .badRequest("num_rollouts must be from 1 to 16, got \(numRollouts)") }
        guard let request = fields.value("request") else { throw .badRequest("request is required") }
        call = try SkillCall(rolloutRequest: request, path: "request")
        self.request = request
        // Digests are computed here, outside the engine's actor, as they read the whole image.
        echo = RolloutCodec.echo(request)
        requestDigest = FNV1a.digest(of: echo)
        if let truth = try fields.optionalObject("ground_truth") {
            groundTruth = try SimGroundTruth(truth, skill: call.skill)
        } else {
            groundTruth = nil
        }
    }
}

/// A validated `POST /tuning/train_step` body (shape only; the rollouts are checked against the
/// registry by the engine).
package struct TrainStepInput: Sendable {
    /// One group: RL (`mode` "rl" or absent: scored rollouts) or SFT (`mode` "sft": a target).
    package struct Group: Sendable {
        package let request: JSONValue
        package let requestDigest: String
        package let call: SkillCall
        /// RL only (empty for SFT).
        package let rollouts: [JSONValue]
        /// Each rollout's `metadata.rollout_id` (nil if missing) and digest, for the registry check.
        package let rolloutIDs: [String?]
        package let rolloutDigests: [String]
        package let rewards: [Double]
        /// SFT only: what the policy is taught to produce for this request.
        package let target: SFTTarget?

        package var isSFT: Bool { target != nil }
    }

    package let finetuneID: String
    package let groups: [Group]
    package let lr: Double

    package static let defaultLearningRate = 0.002

    /// `acceptsSFT` false (reference mode) refuses `mode: "sft"` groups, as the reference does
    /// not know them.
    package init(_ body: JSONValue, acceptsSFT: Bool = true) throws(APIFailure) {
        let fields = try Fields(body, path: "")
        finetuneID = try fields.nonEmptyString("finetune_id")
        lr = try fields.optionalDouble("lr") ?? Self.defaultLearningRate
        guard lr > 0, lr <= 1 else { throw .badRequest("lr must be greater than 0 and at most 1, got \(lr)") }
        let groupValues = try fields.array("groups")
        guard !groupValues.isEmpty else { throw .badRequest("groups must not be empty") }
        var groups: [Group] = []
        for (index, value) in groupValues.enumerated() {
            let group = try Fields(value, path: "groups[\(index)]")
            let mode = try group.optionalString("mode") ?? "rl"
            guard mode == "rl" || mode == "sft" else {
                throw .badRequest("\(group.name("mode")) must be 'rl' or 'sft', got '\(mode)'")
            }
            if mode == "sft", !acceptsSFT {
                throw .badRequest("\(group.name("mode")) 'sft' is not supported: groups are scored rollouts (request, rollouts, rewards)")
            }
            guard let request = group.value("request") else { throw .badRequest("\(group.name("request")) is required") }
            let call = try SkillCall(rolloutRequest: request, path: group.name("request"))
            if mode == "sft" {
                groups.append(try Self.sftGroup(group, request: request, call: call))
                continue
            }
            let rollouts = try group.array("rollouts")
            guard !rollouts.isEmpty else { throw .badRequest("\(group.name("rollouts")) must not be empty") }
            for (position, rollout) in rollouts.enumerated() where rollout.objectMembers == nil {
                throw .badRequest("\(group.name("rollouts"))[\(position)] must be an object, not \(rollout.kindName)")
            }
            let rewardValues = try group.array("rewards")
            var rewards: [Double] = []
            for (position, reward) in rewardValues.enumerated() {
                guard let number = reward.doubleValue, number.isFinite else {
                    throw .badRequest("\(group.name("rewards"))[\(position)] must be a number, not \(reward.kindName)")
                }
                rewards.append(number)
            }
            guard rewards.count == rollouts.count else {
                throw .badRequest("\(group.name("rewards")) has \(rewards.count) rewards for \(rollouts.count) rollouts; they must match one to one")
            }
            groups.append(Group(request: request, requestDigest: FNV1a.digest(of: request), call: call, rollouts: rollouts,
                                rolloutIDs: rollouts.map { $0["metadata"]?["rollout_id"]?.stringValue },
                                rolloutDigests: rollouts.map { FNV1a.digest(of: $0) }, rewards: rewards, target: nil))
        }
        self.groups = groups
    }

    private static func sftGroup(_ group: Fields, request: JSONValue, call: SkillCall) throws(APIFailure) -> Group {
        for member in ["rollouts", "rewards"] where group.has(member) {
            throw .badRequest("\(group.name(member)) is not accepted in an sft group: it takes request and target")
        }
        guard let targetValue = group.value("target") else { throw .badRequest("\(group.name("target")) is required in an sft group") }
        let target = try SFTTarget(try Fields(targetValue, path: group.name("target")), skill: call.skill)
        return Group(request: request, requestDigest: FNV1a.digest(of: request), call: call, rollouts: [], rolloutIDs: [],
                     rolloutDigests: [], rewards: [], target: target)
    }
}

/// The `target` of an SFT group, by skill: query `{"answer", "reasoning"?}`, point
/// `{"points"}` or `{"boxes"}`, detect `{"boxes"}`.
package enum SFTTarget: Sendable, Equatable {
    case answer(String, reasoning: String?)
    case points([SimPoint])
    case boxes([SimBox])

    package init(_ fields: Fields, skill: SimSkill) throws(APIFailure) {
        switch skill {
        case .query:
            try fields.rejectUnknown(["answer", "reasoning"])
            let answer = try fields.nonEmptyString("answer")
            guard !QueryPolicy.word(fromAnswer: answer).isEmpty else {
                throw .badRequest("\(fields.name("answer")) must contain a letter or a digit")
            }
            var reasoning: String?
            if let value = fields.value("reasoning") {
                if let text = value.stringValue {
                    reasoning = text
                } else if value.objectMembers != nil {
                    let object = try Fields(value, path: fields.name("reasoning"))
                    reasoning = try object.string("text")
                    if let grounding = object.value("grounding"), grounding.arrayValue == nil {
                        throw .badRequest("\(object.name("grounding")) must be an array, not \(grounding.kindName)")
                    }
                } else {
                    throw .badRequest("\(fields.name("reasoning")) must be an object {text, grounding} or a string, not \(value.kindName)")
                }
            }
            self = .answer(answer, reasoning: reasoning)
        case .point, .detect:
            switch try SimGroundTruth(fields, skill: skill) {
            case .points(let points): self = .points(points)
            case .boxes(let boxes): self = .boxes(boxes)
            }
        }
    }
}

/// A validated `POST /tuning/finetunes/:id/metrics` body, checked as the SDK documents: a
/// non-negative integer step and 1 to 100 finite numbers named `[A-Za-z0-9_/-]+`, none under
/// the reserved `sys/` and `usr/` prefixes.
package struct MetricsInput: Sendable {
    package let step: Int
    /// In the order sent; a repeated name keeps its last value.
    package let metrics: [(String, Double)]

    package static let maxCount = 100
    package static let reservedPrefixes = ["sys/", "usr/"]

    package init(_ body: JSONValue) throws(APIFailure) {
        let fields = try Fields(body, path: "")
        try fields.rejectUnknown(["step", "metrics"])
        guard let stepValue = fields.value("step") else { throw .badRequest("step is required") }
        guard let step = stepValue.intValue, step >= 0 else {
            throw .badRequest("step must be a non-negative integer, got \(stepValue.serialized())")
        }
        self.step = step
        guard let metricsValue = fields.value("metrics") else { throw .badRequest("metrics is required") }
        guard let members = metricsValue.objectMembers else {
            throw .badRequest("metrics must be an object of name → number, not \(metricsValue.kindName)")
        }
        var seen: [String: Int] = [:], metrics: [(String, Double)] = []
        for member in members {
            let name = member.key, value = member.value
            let place = "metrics[\"\(name)\"]"
            guard !name.isEmpty, name.utf8.allSatisfy(Self.isNameByte) else {
                throw .badRequest("\(place): the name must match [A-Za-z0-9_/-]+")
            }
            if let prefix = Self.reservedPrefixes.first(where: { name.hasPrefix($0) }) {
                throw .badRequest("\(place): names starting with '\(prefix)' are reserved (sys/ and usr/ may not be used)")
            }
            guard case .number = value, let number = value.doubleValue, number.isFinite else {
                throw .badRequest("\(place) must be a finite number, not \(value.kindName == "a number" ? "an infinite one" : value.kindName)")
            }
            if let index = seen[name] {
                metrics[index].1 = number
            } else {
                seen[name] = metrics.count
                metrics.append((name, number))
            }
        }
        guard (1...Self.maxCount).contains(metrics.count) else {
            throw .badRequest("metrics must hold 1 to \(Self.maxCount) entries, got \(metrics.count)")
        }
        self.metrics = metrics
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "/")
            || byte == UInt8(ascii: "-")
    }
}
