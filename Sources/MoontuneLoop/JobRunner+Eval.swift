import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import NIOPosix
import ServiceLifecycle

extension JobRunner {
    /// Eval: one rollout per eval example at temperature 0, scored by the same reward functions,
    /// no training. Abandoned (and redone by the next run) on a graceful stop.
    ///
    /// A sliding window of `train.concurrency` tasks (start that many, add one as one finishes),
    /// so that at most that many examples and their images are held at once: eval's memory does
    /// not grow with the eval set, as training's does not grow with the dataset.
    func runEval(step: Int) async throws {
        guard let dataset = context.evalDataset, let eval = context.config.eval else { return }
        let indices = evalIndices(count: dataset.count, seed: context.config.train.seed, maxExamples: eval.maxExamples)
        let context = context
        let finetuneID = finetuneID
        let window = max(1, context.config.train.concurrency)
        let scored: [(Skill, Double)] = try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: (Skill, Double).self) { group in
                @Sendable func score(_ index: Int) async throws -> (Skill, Double) {
                    let (example, request) = try await NIOThreadPool.singleton.runIfActive {
                        let example = try dataset.example(at: index)
                        let request = try (context.evalBuilder ?? context.builder).rolloutsRequest(for: example, finetuneID: finetuneID, numRollouts: 1,
                                                                          temperature: 0)
                        return (example, request)
                    }
                    let response = try await context.client.rollouts(request)
                    let rewards = try await context.scorer.rewards(for: example, rollouts: response.rollouts,
                                                                   serverRewards: response.rewards)
                    let mean = rewards.isEmpty ? 0 : rewards.reduce(0, +) / Double(rewards.count)
                    return (example.skill, mean)
                }
                var pending = indices.makeIterator()
                for _ in 0..<window {
                    guard let index = pending.next() else { break }
                    group.addTask { try await score(index) }
                }
                var results: [(Skill, Double)] = []
                while let result = try await group.next() {
                    results.append(result)
                    if let index = pending.next() { group.addTask { try await score(index) } }
                }
                return results
            }
        }
        var bySkill: [String: [Double]] = [:]
        for (skill, reward) in scored { bySkill[skill.rawValue, default: []].append(reward) }
        let all = scored.map(\.1)
        let summary = EvalSummary(rewardMean: all.isEmpty ? 0 : all.reduce(0, +) / Double(all.count), count: all.count,
                                  perSkill: bySkill.compactMapValues(RewardSummary.init))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let perSkill = (try? encoder.encode(summary.perSkill)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try await store.recordEval(EvalRecord(jobID: jobID, step: step, rewardMean: summary.rewardMean, count: summary.count,
                                              perSkillJSON: perSkill, atMs: now))
        machine.evalRecorded(step: step, rewardMean: summary.rewardMean)
        context.observer.record(.evalRecorded(step: step, summary: summary))
        pushes.evalRecorded(step: step, summary: summary)
    }
}
