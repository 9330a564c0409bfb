/// A validated `POST /tuning/rollouts` body.
struct RolloutsInput: Sendable {
    let finetuneID: String
    let numRollouts: Int
    /// The request as sent, and the echo answered for it (with an extra member).
    let request: JSONValue
    let echo: JSONValue
    let requestDigest: String
    let call: SkillCall
    let groundTruth: SimGroundTruth?

    init(_ body: JSONValue) throws(APIFailure) {
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
struct TrainStepInput: Sendable {
    struct Group: Sendable {
        let request: JSONValue
        let requestDigest: String
        let call: SkillCall
        let rollouts: [JSONValue]
        /// Each rollout's `metadata.rollout_id` (nil if missing) and digest, for the registry check.
        let rolloutIDs: [String?]
        let rolloutDigests: [String]
        let rewards: [Double]
    }

    let finetuneID: String
    let groups: [Group]
    let lr: Double

    static let defaultLearningRate = 0.002

    init(_ body: JSONValue) throws(APIFailure) {
        let fields = try Fields(body, path: "")
        finetuneID = try fields.nonEmptyString("finetune_id")
        lr = try fields.optionalDouble("lr") ?? Self.defaultLearningRate
        guard lr > 0, lr <= 1 else { throw .badRequest("lr must be greater than 0 and at most 1, got \(lr)") }
        let groupValues = try fields.array("groups")
        guard !groupValues.isEmpty else { throw .badRequest("groups must not be empty") }
        var groups: [Group] = []
        for (index, value) in groupValues.enumerated() {
            let group = try Fields(value, path: "groups[\(index)]")
            guard let request = group.value("request") else { throw .badRequest("\(group.name("request")) is required") }
            let call = try SkillCall(rolloutRequest: request, path: group.name("request"))
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
                                rolloutDigests: rollouts.map { FNV1a.digest(of: $0) }, rewards: rewards))
        }
        self.groups = groups
    }
}
