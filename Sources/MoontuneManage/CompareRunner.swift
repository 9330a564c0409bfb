import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneReport
import NIOPosix

/// Runs examples through the inference endpoints for each model and scores the answers with the
/// job's reward functions.
///
/// A sliding window of `concurrency` tasks (one client, whose limiter caps requests in flight at
/// the same bound); each call is retried by the client's policy. Example-major order, so that an
/// image is read and encoded once for every model.
package struct CompareRunner: Sendable {
    package typealias Score = (skill: Skill, reward: Double)

    /// One model's answer to one example: its score, and what the gallery draws.
    package struct Outcome: Sendable {
        package var score: Score
        package var example: GalleryOutcome
        /// What the eval metrics read (accuracy, P/R/F1, distance and hit rate).
        package var scored: EvalMetrics.Scored
    }

    let client: MoondreamClient
    let dataset: Dataset
    let indices: [Int]
    let config: JobConfig
    let scorer: any RewardScorer
    let progress: CompareProgress
    let cache = ImageCache()

    /// For each model, one outcome per example, in example order.
    package func run(models: [ComparedModel]) async throws -> [[Outcome]] {
        let work = indices.indices.flatMap { position in models.indices.map { (position: position, model: $0) } }
        let window = max(1, config.train.concurrency)
        let retries = progress
        let scored: [(Int, Int, Outcome)] = try await RetryReporting.$observer.withValue(RetryObserver { _ in retries.retried() }) {
            try await withThrowingTaskGroup(of: (Int, Int, Outcome).self) { group in
                var next = 0
                var results: [(Int, Int, Outcome)] = []
                results.reserveCapacity(work.count)
                while next < min(window, work.count) {
                    let item = work[next]
                    group.addTask { try await score(position: item.position, model: models[item.model], modelIndex: item.model) }
                    next += 1
                }
                while let result = try await group.next() {
                    results.append(result)
                    progress.answered()
                    if next < work.count {
                        let item = work[next]
                        group.addTask { try await score(position: item.position, model: models[item.model], modelIndex: item.model) }
                        next += 1
                    }
                }
                return results
            }
        }
        var byModel = Array(repeating: [(position: Int, score: Outcome)](), count: models.count)
        for (modelIndex, position, score) in scored { byModel[modelIndex].append((position, score)) }
        return byModel.map { $0.sorted { $0.position < $1.position }.map(\.score) }
    }

    /// One model's answer to one example, scored.
    func score(position: Int, model: ComparedModel, modelIndex: Int) async throws -> (Int, Int, Outcome) {
        let index = indices[position]
        let (example, imageURL) = try await NIOThreadPool.singleton.runIfActive { [dataset, cache] in
            let example = try dataset.example(at: index)
            return (example, try example.image.map { try cache.dataURL(for: $0) })
        }
        let rollout: Rollout
        do {
            rollout = try await answer(example, imageURL: imageURL, model: model)
        } catch let error as APIError {
            throw ManageFailure("\(model.modelName) on example \"\(example.id)\" (line \(example.line)): \(ManageFailure.describe(error))")
        }
        let rewards = try await scorer.rewards(for: example, rollouts: [rollout], serverRewards: nil)
        guard let reward = rewards.first, reward.isFinite else {
            throw ManageFailure("no finite reward for example \"\(example.id)\" (line \(example.line))")
        }
        let prediction = rollout.output.map(ExamplePrediction.init)
        let truth = ExampleTruth(object: example.object, question: example.question, answers: example.skill == .query ? example.answers : nil,
                                 groundTruth: example.groundTruth)
        let drawn = GalleryOutcome(exampleID: example.id, position: position, skill: example.skill.rawValue, reward: reward,
                                   prediction: prediction, truth: truth, imagePath: example.image?.path)
        return (modelIndex, position, Outcome(score: (example.skill, reward), example: drawn,
                                              scored: EvalMetrics.Scored(example: example, prediction: rollout.output)))
    }

    /// Calls the endpoint of the example's skill and wraps the answer as a rollout, so that every
    /// reward function (built-in or program) reads it as it reads training rollouts.
    func answer(_ example: Example, imageURL: String?, model: ComparedModel) async throws -> Rollout {
        var output = InferenceRollout.Output()
        switch example.skill {
        case .point:
            output.points = try await client.point(model: model.model, imageURL: imageURL ?? "", object: example.object ?? "")
        case .detect:
            let settings = config.train.settings.maxObjects.map { SamplingSettings(maxObjects: $0) }
            output.objects = try await client.detect(model: model.model, imageURL: imageURL ?? "", object: example.object ?? "",
                                                     settings: settings)
        case .query:
            output.answer = try await client.query(model: model.model, imageURL: imageURL, question: example.question ?? "")
        }
        return Rollout(raw: try RawJSON.encoding(InferenceRollout(skill: example.skill, output: output)), skill: example.skill)
    }

    /// The shape of a rollout, filled from an inference answer.
    struct InferenceRollout: Encodable {
        struct Output: Encodable {
            var points: [Point]?
            var objects: [Box]?
            var answer: String?
        }
        var skill: Skill
        var output: Output
    }
}
