import MoontuneJSON
/// Rollouts and train steps: where the policy is sampled and where it learns.
extension SimulatorEngine {
    package func rollouts(_ input: RolloutsInput) throws(APIFailure) -> JSONValue {
        let record = try liveFinetune(input.finetuneID)
        let requestDigest = input.requestDigest
        var rollouts: [JSONValue] = [], rewards: [JSONValue] = []
        for _ in 0..<input.numRollouts {
            var sample = drawSample(input.call, policy: record.policy)
            sample.output = RolloutCodec.rounded(sample.output)
            let generation = Generation.make(input.call, sample: sample)
            sample.output = generation.output
            sample.slots = generation.slots
            if let truth = input.groundTruth {
                rewards.append(.canonicalDouble(Rewards.reward(skill: input.call.skill, output: sample.output, truth: truth)))
            }
            let output = RolloutCodec.outputJSON(sample.output, reasoning: generation.reasoningJSON(live: style.live))
            let rolloutID = makeID()
            let metadata = RolloutCodec.metadata(rolloutID: rolloutID, policyStep: record.step, seq: rolloutSequence,
                                                 sample: sample, output: output, requestDigest: requestDigest)
            rolloutSequence &+= 1
            var members: [(String, JSONValue)] = [("skill", .string(input.call.skill.rawValue))]
            if style.live { members += generation.liveMembers.prefix(1) }
            members.append(("output", output))
            if style.live { members += generation.liveMembers.dropFirst() }
            members.append(("metadata", metadata))
            let rollout = JSONValue.members(members)
            registry.register(id: rolloutID, entry: .init(digest: FNV1a.digest(of: rollout), requestDigest: requestDigest,
                                                          finetuneID: input.finetuneID))
            rollouts.append(rollout)
        }
        return .members([("request", input.echo), ("rollouts", .list(rollouts)),
                        ("rewards", input.groundTruth == nil ? .null : .list(rewards))])
    }

    /// Checks every rollout against what was issued, then applies one step to the policy: RL
    /// groups by their rewards, SFT groups toward their targets.
    package func trainStep(_ input: TrainStepInput) throws(APIFailure) -> JSONValue {
        var record = try liveFinetune(input.finetuneID)
        var problems: [String] = []
        for (groupIndex, group) in input.groups.enumerated() {
            for index in group.rollouts.indices {
                let place = "groups[\(groupIndex)].rollouts[\(index)]"
                guard let id = group.rolloutIDs[index] else {
                    problems.append("\(place) has no metadata.rollout_id: rollouts must be passed back unchanged")
                    continue
                }
                guard let entry = registry[id] else {
                    problems.append("\(place) (\(id)) is unknown: it was not issued by this server")
                    continue
                }
                if entry.digest != group.rolloutDigests[index] {
                    problems.append("\(place) (\(id)) was changed after it was issued: rollouts must be passed back unchanged")
                } else if entry.finetuneID != input.finetuneID {
                    problems.append("\(place) (\(id)) was issued for finetune \(entry.finetuneID), not \(input.finetuneID)")
                } else if entry.requestDigest != group.requestDigest {
                    problems.append("groups[\(groupIndex)].request is not the echoed request that \(place) (\(id)) came from")
                }
            }
        }
        if !problems.isEmpty {
            counters.rejectedRollouts += problems.count
            let more = problems.count > 1 ? " (and \(problems.count - 1) more)" : ""
            throw .badRequest(problems[0] + more)
        }
        if drawUnapplied() {
            return TrainStepReport(step: record.step, applied: false).json
        }

        let before = record.policy
        var report = TrainStepReport(step: record.step + 1, applied: true)
        var reused = false, seen = Set<String>()
        let step = Learning.stepSize(lr: input.lr)
        for group in input.groups {
            if let target = group.target {
                let loss = record.policy.supervisedLoss(group.call, target: target)
                report.sftLosses.append(loss)
                report.groupSignals.append(1 - exp(-loss))
                record.policy.learnTarget(group.call, target: target, step: step)
                continue
            }
            report.rewards += group.rewards
            report.groupSignals.append(TrainStepReport.standardDeviation(group.rewards))
            var trained: [TrainedRollout] = []
            for (rollout, id) in zip(group.rollouts, group.rolloutIDs) {
                if let id, registry.markTrained(id) || !seen.insert(id).inserted { reused = true }
                if let parsed = RolloutCodec.trained(rollout, skill: group.call.skill) { trained.append(parsed) }
            }
            guard trained.count == group.rollouts.count else { continue }
            record.policy.learn(group.call, rollouts: trained, rewards: group.rewards, step: step)
        }
        // Divergences over the keys this step trained, each once.
        let base = Policy(seed: seed)
        var keys = Set<UInt64>()
        for group in input.groups where keys.insert(group.call.key).inserted {
            report.kls.append(record.policy.divergence(group.call, from: base))
            report.routerKLs.append(record.policy.divergence(group.call, from: before))
        }
        record.step += 1
        record.trainStepsApplied += 1
        record.updatedAtMs = nowMs
        counters.trainStepsApplied += 1
        if reused {
            record.doubleApplications += 1
            counters.doubleApplications += 1
        }
        finetunes[input.finetuneID] = record
        return style.live ? report.json : .object([])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
