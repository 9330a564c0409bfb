import Foundation
import MoondreamAPI
import MoontuneDecisions
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
        let scored: [EvalResult] = try await cancelWhenGracefulShutdown {
            try await withThrowingTaskGroup(of: EvalResult.self) { group in
                @Sendable func score(_ index: Int) async throws -> EvalResult {
                    let (example, request) = try await NIOThreadPool.singleton.runIfActive {
                        let example = try dataset.example(at: index)
                        let request = try (context.evalBuilder ?? context.builder).rolloutsRequest(for: example, finetuneID: finetuneID, numRollouts: 1,
                                                                          temperature: 0)
                        return (example, request)
                    }
                    let response = try await context.client.rollouts(request)
                    let graded = try await context.scorer.graded(for: example, rollouts: response.rollouts,
                                                                 serverRewards: response.rewards)
                    let rewards = graded.rewards
                    let mean = rewards.isEmpty ? 0 : rewards.reduce(0, +) / Double(rewards.count)
                    // Only the small decoded answer is kept: never the rollout, the request or the image.
                    var result = EvalResult(example: example, reward: mean, output: response.rollouts.first?.output)
                    result.graderScores = graded.scores
                    return result
                }
                var pending = indices.makeIterator()
                for _ in 0..<window {
                    guard let index = pending.next() else { break }
                    group.addTask { try await score(index) }
                }
                var results: [EvalResult] = []
                results.reserveCapacity(indices.count)
                while let result = try await group.next() {
                    results.append(result)
                    if let index = pending.next() { group.addTask { try await score(index) } }
                }
                return results.sorted { $0.record.position < $1.record.position }
            }
        }
        let summary = EvalResult.summary(scored, config: context.config.reward)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let perSkill = (try? encoder.encode(summary.perSkill)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // Issue 24: each grader's mean over the eval's examples, recorded with the eval.
        let graderMeans = GraderMeans.of(scored.map(\.graderScores))
        try await ledger.commit(.evalRecorded(EvalRecord(jobID: jobID, step: step, rewardMean: summary.rewardMean, count: summary.count,
                                                         perSkillJSON: perSkill, atMs: now, graderMeans: graderMeans),
                                              examples: scored.map { var record = $0.record; record.jobID = jobID; record.step = step; return record }))
        context.observer.record(.evalRecorded(step: step, summary: summary))
        pushes.evalRecorded(step: step, summary: summary)
        try await pruneCheck(step: step)  // issue 25: a sweep's rung (JobRunner+Pruning.swift)
    }
}

/// One eval example's outcome, as the eval holds it until the eval is recorded: its row and what
/// the metrics read (a few points, boxes or an answer), nothing larger.
struct EvalResult: Sendable {
    var record: EvalExampleRecord
    var scored: EvalMetrics.Scored
    /// Each grader's scores of the example's rollout (issue 24); empty without graders.
    var graderScores: [String: [Double]] = [:]

    init(example: Example, reward: Double, output: RolloutOutput?) {
        // A query's reasoning is not kept: only the answer is scored and shown.
        let prediction: RolloutOutput? = output.map { output in
            if case .query(let answer, _) = output { return .query(answer: answer, reasoning: nil) }
            return output
        }
        record = EvalExampleRecord(jobID: 0, step: 0, exampleID: example.id, position: example.index, line: example.line,
                                   skill: example.skill.rawValue, reward: reward, predictionJSON: prediction.map { ExamplePrediction($0).json },
                                   imagePath: example.image?.path,
                                   truthJSON: ExampleTruth(object: example.object, question: example.question,
                                                           answers: example.skill == .query ? example.answers : nil,
                                                           groundTruth: example.groundTruth).json)
        scored = EvalMetrics.Scored(example: example, prediction: prediction)
    }

    /// The eval's mean, count, and per-skill rewards with the skill's metrics.
    static func summary(_ results: [EvalResult], config: RewardConfig) -> EvalSummary {
        var bySkill: [String: [Double]] = [:]
        for result in results { bySkill[result.record.skill, default: []].append(result.record.reward) }
        let metrics = EvalMetrics.perSkill(results.map(\.scored), config: config)
        let all = results.map(\.record.reward)
        var perSkill: [String: EvalSkillSummary] = [:]
        for (skill, rewards) in bySkill {
            guard let rewards = RewardSummary(rewards) else { continue }
            perSkill[skill] = EvalSkillSummary(rewards: rewards, metrics: Skill(rawValue: skill).flatMap { metrics[$0] } ?? EvalSkillMetrics())
        }
        return EvalSummary(rewardMean: all.isEmpty ? 0 : all.reduce(0, +) / Double(all.count), count: all.count, perSkill: perSkill)
    }
}

/// An eval's figures for one skill, as `per_skill` holds them: the reward's mean, std, min, max
/// and count, and the skill's metrics beside them (`accuracy`; `precision`, `recall`, `f1`;
/// `mean_distance`, `hit_rate`), in one flat JSON object.
public struct EvalSkillSummary: Codable, Sendable, Equatable {
    public var mean: Double
    public var std: Double
    public var min: Double
    public var max: Double
    public var count: Int
    public var metrics: EvalSkillMetrics

    public init(rewards: RewardSummary, metrics: EvalSkillMetrics) {
        mean = rewards.mean
        std = rewards.std
        min = rewards.min
        max = rewards.max
        count = rewards.count
        self.metrics = metrics
    }

    enum CodingKeys: String, CodingKey { case mean, std, min, max, count }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mean = try container.decode(Double.self, forKey: .mean)
        std = try container.decode(Double.self, forKey: .std)
        min = try container.decode(Double.self, forKey: .min)
        max = try container.decode(Double.self, forKey: .max)
        count = try container.decode(Int.self, forKey: .count)
        metrics = try EvalSkillMetrics(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mean, forKey: .mean)
        try container.encode(std, forKey: .std)
        try container.encode(min, forKey: .min)
        try container.encode(max, forKey: .max)
        try container.encode(count, forKey: .count)
        try metrics.encode(to: encoder)
    }
}
