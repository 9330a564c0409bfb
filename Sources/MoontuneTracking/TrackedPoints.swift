import Foundation
import MoondreamAPI
import MoontuneJSON
import MoontuneStore

/// One named number at a step, the same in every tracker.
package struct TrackedScalar: Sendable, Equatable {
    package var name: String
    package var value: Double
}

/// What an applied step shows: its scalars at its step, timed by when it was applied.
package struct TrackedStep: Sendable, Equatable {
    package var k: Int
    package var atMs: Int64
    package var scalars: [TrackedScalar]
}

/// What an eval shows: its scalars at its step (its pictures are drawn when it is delivered).
package struct TrackedEval: Sendable, Equatable {
    package var step: Int
    package var atMs: Int64
    package var scalars: [TrackedScalar]
}

/// A saved checkpoint and its inference model string.
package struct TrackedCheckpoint: Sendable, Equatable {
    package var step: Int
    package var model: String
}

/// The next points a tracker has not received, in record order, up to step `through`.
package struct TrackingBatch: Sendable, Equatable {
    package var steps: [TrackedStep] = []
    package var evals: [TrackedEval] = []
    package var checkpoints: [TrackedCheckpoint] = []
    /// Every applied step up to here is in this batch or delivered before it.
    package var through: Int

    package var isEmpty: Bool { steps.isEmpty && evals.isEmpty && checkpoints.isEmpty }
}

/// Derives the points from the record: the applied steps, the evals and the checkpoints. Every
/// tracker gets the same names, values, steps and times, however often they are derived again.
package enum TrackedPoints {
    /// A step's scalars: its rewards, each skill's reward mean as `train/<skill>/reward_mean` (as
    /// evals name theirs `eval/<skill>/reward_mean`), lr, constant-group fraction, times and
    /// retries, train_step's numbers as `train/<name>` (the server's own reward figures as
    /// `train/server_reward_mean` and `..._std`, beside moontune's), and the rollouts spent through
    /// it (`budget/rollouts`).
    package static func scalars(step: StepRecord, rolloutsSpent: Int) -> [TrackedScalar] {
        var out: [(String, Double?)] = [
            ("train/reward_mean", step.rewardMean), ("train/reward_std", step.rewardStd),
            ("train/reward_min", step.rewardMin), ("train/reward_max", step.rewardMax),
            ("train/lr", step.lr), ("train/constant_group_fraction", step.constantGroupFraction),
            ("train/step_seconds", step.wallMs.map { $0 / 1000 }),
            ("train/train_step_seconds", step.trainLatencyMs.map { $0 / 1000 }),
            ("train/rollout_seconds", step.rolloutLatencyMs.map { $0 / 1000 }),
            ("train/retries", Double(step.retries)),
            ("train/answer_length_mean", step.answerLengthMean), ("train/truncation_rate", step.truncationRate),
        ]
        for (skill, mean) in skillRewardMeans(metricsJSON: step.metricsJSON) {
            out.append(("train/\(skill)/reward_mean", mean))
        }
        for (name, value) in step.train.named {
            let tag = name == "reward_mean" || name == "reward_std" ? "train/server_\(name)" : "train/\(name)"
            out.append((tag, value))
        }
        out.append(("budget/rollouts", Double(rolloutsSpent)))
        return out.compactMap { name, value in value.flatMap { $0.isFinite ? TrackedScalar(name: name, value: $0) : nil } }
    }

    /// Each skill's reward mean from a step's `metrics_json` (`per_skill.<skill>.mean`, as
    /// `StepStatistics` records it), in skill order; none for a step that recorded no rewards.
    static func skillRewardMeans(metricsJSON: String?) -> [(skill: String, mean: Double)] {
        guard let metricsJSON, let root = try? JSONParser.parse(Array(metricsJSON.utf8)), case .object(let members) = root.value,
              let perSkill = members.first(where: { $0.key == "per_skill" }), case .object(let skills) = perSkill.node.value else {
            return []
        }
        return skills.sorted { $0.key < $1.key }.compactMap { skill in
            guard case .object(let figures) = skill.node.value,
                  let mean = figures.first(where: { $0.key == "mean" }), case .number(let number) = mean.node.value else { return nil }
            return (skill.key, number.double)
        }
    }

    /// An eval's scalars: `eval/reward_mean`, `eval/n`, each grader's mean `eval/grader/<name>`,
    /// and per skill `eval/<skill>/reward_mean` and its metrics (`accuracy`; `precision`, `recall`, `f1`; `mean_distance`, `hit_rate`).
    package static func scalars(eval: EvalRecord) -> [TrackedScalar] {
        var out = [TrackedScalar(name: "eval/reward_mean", value: eval.rewardMean),
                   TrackedScalar(name: "eval/n", value: Double(eval.count))]
        // Issue 24: each grader's mean over the eval, as `eval/grader/<name>`.
        out += eval.graderMeans.sorted { $0.key < $1.key }.map { TrackedScalar(name: "eval/grader/\($0.key)", value: $0.value) }
        guard let root = try? JSONParser.parse(Array(eval.perSkillJSON.utf8)), case .object(let skills) = root.value else {
            return out.filter { $0.value.isFinite }
        }
        for skill in skills.sorted(by: { $0.key < $1.key }) {
            guard case .object(let members) = skill.node.value else { continue }
            let numbers = Dictionary(members.compactMap { member -> (String, Double)? in
                if case .number(let number) = member.node.value { return (member.key, number.double) }
                return nil
            }, uniquingKeysWith: { first, _ in first })
            if let mean = numbers["mean"] { out.append(TrackedScalar(name: "eval/\(skill.key)/reward_mean", value: mean)) }
            for metric in ["accuracy", "precision", "recall", "f1", "mean_distance", "hit_rate"] {
                if let value = numbers[metric] { out.append(TrackedScalar(name: "eval/\(skill.key)/\(metric)", value: value)) }
            }
        }
        return out.filter { $0.value.isFinite }
    }

    /// The next batch after the tracker's marks: at most `limit` applied steps, with the evals and
    /// checkpoints recorded up to the last of them.
    package static func batch(store: ProgressStore, jobID: Int64, after state: TrackerState, limit: Int,
                              groupsPerStep: Int, rolloutsPerGroup: Int, finetuneID: String?) async throws -> TrackingBatch {
        let steps = try await store.appliedSteps(jobID: jobID, after: state.stepsThrough, limit: limit)
        let through = steps.last?.k ?? state.stepsThrough
        let evals = try await store.evals(jobID: jobID)
        var groups = steps.isEmpty ? 0 : try await store.rolloutGroups(jobID: jobID, through: state.stepsThrough, groupsPerStep: groupsPerStep)
        var batch = TrackingBatch(through: through)
        for step in steps {
            if step.mode != .sft { groups += step.groupsTried ?? groupsPerStep }
            let evalRollouts = evals.filter { $0.step < step.k }.reduce(0) { $0 + $1.count }
            batch.steps.append(TrackedStep(k: step.k, atMs: step.appliedAtMs ?? step.intentAtMs,
                                           scalars: scalars(step: step, rolloutsSpent: groups * rolloutsPerGroup + evalRollouts)))
        }
        batch.evals = evals.filter { $0.step > state.evalsThrough && $0.step <= through }
            .map { TrackedEval(step: $0.step, atMs: $0.atMs, scalars: scalars(eval: $0)) }
        if let finetuneID {
            batch.checkpoints = try await store.checkpoints(jobID: jobID)
                .filter { $0.step > state.checkpointsThrough && $0.step <= through }
                .map { TrackedCheckpoint(step: $0.step, model: inferenceModel(finetuneID: finetuneID, step: $0.stepOnServer)) }
        }
        return batch
    }

    /// The marks after `batch` is delivered.
    package static func advance(_ state: inout TrackerState, past batch: TrackingBatch) {
        state.stepsThrough = max(state.stepsThrough, batch.through)
        if let last = batch.evals.last?.step { state.evalsThrough = max(state.evalsThrough, last) }
        if let last = batch.checkpoints.last?.step { state.checkpointsThrough = max(state.checkpointsThrough, last) }
    }
}
