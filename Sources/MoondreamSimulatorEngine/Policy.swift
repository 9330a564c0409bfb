/// A finetune's whole policy: the keys it has trained, each its own small model; every other key
/// is at the base policy derived from (seed, key). A value type, so a checkpoint is a copy.
package struct Policy: Sendable, Equatable {
    package enum KeyPolicy: Sendable, Equatable {
        case point(PointPolicy)
        case detect(DetectPolicy)
        case query(QueryPolicy)
    }

    package let seed: UInt64
    package private(set) var trained: [UInt64: KeyPolicy] = [:]

    package init(seed: UInt64) { self.seed = seed }

    package func keyPolicy(for call: SkillCall) -> KeyPolicy {
        let key = call.key
        if let found = trained[key], found.skill == call.skill { return found }
        var random = SimRandom(seed: seed, stream: key)
        switch call.skill {
        case .point: return .point(PointPolicy(base: &random))
        case .detect: return .detect(DetectPolicy(base: &random))
        case .query: return .query(QueryPolicy())
        }
    }

    /// Sets the model of one key (for the learning rules in other files).
    package mutating func trainedKey(_ key: UInt64, _ policy: KeyPolicy) { trained[key] = policy }

    /// Draws one output for `call` with its own settings.
    package func sample(_ call: SkillCall, random: inout SimRandom) -> PolicySample {
        switch keyPolicy(for: call) {
        case .point(let policy):
            return policy.sample(temperature: call.settings.temperature, random: &random)
        case .detect(let policy):
            return policy.sample(temperature: call.settings.temperature, maxObjects: call.settings.maxObjects, random: &random)
        case .query(let policy):
            let candidates = policy.withExtras(QueryPolicy.candidates(question: call.prompt, seed: seed, key: call.key))
            let drawn = policy.sample(candidates, settings: call.settings, random: &random)
            let plain = call.settings.temperature > 0 && random.unit() < 0.5
            return PolicySample(output: .answer(QueryPolicy.phrase(drawn.word, plain: plain)), word: drawn.word, logprob: drawn.logprob)
        }
    }

    /// Applies one train_step group: the rollouts' outputs with their rewards.
    package mutating func learn(_ call: SkillCall, rollouts: [TrainedRollout], rewards: [Double], step: Double) {
        guard let weights = Learning.weights(rewards: rewards), step > 0 else { return }
        switch keyPolicy(for: call) {
        case .point(var policy):
            var points: [SimPoint] = [], explored: [Bool] = [], kept: [Double] = []
            for (index, rollout) in rollouts.enumerated() {
                guard case .points(let drawn) = rollout.output, let first = drawn.first else { continue }
                points.append(first)
                explored.append(rollout.explored)
                kept.append(weights[index])
            }
            policy.learn(points: points, explored: explored, weights: kept, step: step)
            trained[call.key] = .point(policy)
        case .detect(var policy):
            let drawn: [[Int: SimBox]] = rollouts.map { rollout in
                guard case .boxes(let boxes) = rollout.output else { return [:] }
                var bySlot: [Int: SimBox] = [:]
                for (box, slot) in zip(boxes, rollout.slots) where policy.slots.indices.contains(slot) { bySlot[slot] = box }
                return bySlot
            }
            policy.learn(drawn: drawn, weights: weights, step: step)
            trained[call.key] = .detect(policy)
        case .query(var policy):
            let candidates = policy.withExtras(QueryPolicy.candidates(question: call.prompt, seed: seed, key: call.key))
            let answers: [String?] = rollouts.map { rollout in
                guard case .answer(let text) = rollout.output else { return nil }
                return QueryPolicy.word(fromAnswer: text)
            }
            policy.learn(candidates, answers: answers, weights: weights, step: step)
            trained[call.key] = .query(policy)
        }
    }
}

extension Policy.KeyPolicy {
    package var skill: SimSkill {
        switch self {
        case .point: .point
        case .detect: .detect
        case .query: .query
        }
    }
}

/// What the learning rule reads back from a verified rollout.
package struct TrainedRollout: Sendable {
    package var output: PolicyOutput
    package var explored: Bool
    package var slots: [Int]
}
