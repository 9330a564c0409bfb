import Foundation
import MoondreamAPI
import MoontuneConfig
import MoontuneDataset
import NIOPosix

/// One group's rewards and, per grader, its score of each rollout.
public struct GradedRewards: Sendable, Equatable {
    /// One per rollout: Σ weight × score over the graders.
    public var rewards: [Double]
    /// Grader name → one score per rollout; empty without graders.
    public var scores: [String: [Double]]

    public init(rewards: [Double], scores: [String: [Double]]) {
        self.rewards = rewards
        self.scores = scores
    }

    /// The weighted sum of each rollout's scores, in the graders' order. Every grader must have
    /// scored every rollout: a missing score is an error, never a 0.
    public static func combine(_ graders: [GraderConfig], scores: [String: [Double]], rollouts: Int) throws(RewardError) -> [Double] {
        var rewards = [Double](repeating: 0, count: rollouts)
        for grader in graders {
            guard let own = scores[grader.name], own.count == rollouts else {
                throw RewardError(.wrongCount, "grader \"\(grader.name)\" gave \(scores[grader.name]?.count ?? 0) scores for \(rollouts) rollouts")
            }
            for (index, score) in own.enumerated() {
                guard score.isFinite else { throw RewardError(.nonFinite, "grader \"\(grader.name)\": score \(index) is \(score)") }
                rewards[index] += grader.weight * score
            }
        }
        return rewards
    }
}

/// `reward.graders`: every grader scores every rollout of a group, all graders at once; the
/// reward is the weighted sum. A grader that cannot score throws, so the group (and its step)
/// never reaches train_step with a missing component.
public final class GraderSet: RewardScorer {
    public let graders: [GraderConfig]
    private let builtin: BuiltinRewardScorer
    private let models: [String: ModelGrader]
    private let programs: [String: RewardProgram]
    private let maxImageBytes: Int

    /// - Parameter transport: the judges' HTTP transport (tests); nil: one of their own each.
    public init(config: JobConfig, environment: [String: String], transport: (any HTTPTransport)? = nil,
                retryEnvironment: RetryEnvironment = .live) throws {
        graders = config.reward.graders
        builtin = BuiltinRewardScorer(config: config.reward)
        maxImageBytes = config.data.maxImageBytes
        let retry = RetryPolicy(maxAttempts: config.api.maxAttempts, maxDelay: .seconds(config.api.maxBackoffSeconds),
                                giveUpAfter: .seconds(config.api.giveUpAfterSeconds))
        var models: [String: ModelGrader] = [:]
        var programs: [String: RewardProgram] = [:]
        // The graders' programs see neither the API key nor a judge's.
        let hidden = [config.api.apiKeyEnv] + config.reward.graders.compactMap { $0.model?.apiKeyEnv }
        // Every key first: a transport made before a later key is found missing would never be shut down.
        var keys: [String: String?] = [:]
        for grader in config.reward.graders {
            if let model = grader.model { keys[grader.name] = try model.apiKey(environment: environment, grader: grader.name) }
        }
        for grader in config.reward.graders {
            switch grader.kind {
            case .model(let model):
                let key = keys[grader.name] ?? nil
                models[grader.name] = ModelGrader(name: grader.name, config: model, apiKey: key, retry: retry,
                                                  transport: transport, environment: retryEnvironment)
            case .command(let command, let timeout):
                programs[grader.name] = RewardProgram(command: command, timeout: .milliseconds(Int64(timeout * 1000)),
                                                      workingDirectory: config.sourceURL.deletingLastPathComponent(),
                                                      hiddenEnvironment: hidden)
            case .builtin, .textSimilarity: break
            }
        }
        self.models = models
        self.programs = programs
    }

    public func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        try await graded(for: example, rollouts: rollouts, serverRewards: serverRewards).rewards
    }

    public func graded(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> GradedRewards {
        let scores = try await withThrowingTaskGroup(of: (String, [Double]).self) { group in
            for grader in graders {
                group.addTask { (grader.name, try await self.scores(of: grader, example: example, rollouts: rollouts, serverRewards: serverRewards)) }
            }
            var scores: [String: [Double]] = [:]
            for try await (name, own) in group { scores[name] = own }
            return scores
        }
        return GradedRewards(rewards: try GradedRewards.combine(graders, scores: scores, rollouts: rollouts.count), scores: scores)
    }

    /// One grader's score of each rollout.
    func scores(of grader: GraderConfig, example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        switch grader.kind {
        case .builtin:
            return try builtin.score(example, rollouts, serverRewards)
        case .textSimilarity(let metric):
            guard example.skill == .query else {
                throw RewardError(.graderCannotScore, "grader \"\(grader.name)\" (text_similarity) scores query answers only; "
                    + "example \"\(example.id)\" (line \(example.line)) is \(example.skill.rawValue)")
            }
            return rollouts.map { rollout in
                guard case .query(let answer, _)? = rollout.output else { return 0 }
                return TextSimilarity.best(metric, answer: answer, accepted: example.answers)
            }
        case .model:
            guard let judge = models[grader.name] else { throw RewardError(.graderFailed, "grader \"\(grader.name)\" was not set up") }
            let image = try await imageDataURL(for: example, judge: judge)
            return try await withThrowingTaskGroup(of: (Int, Double).self) { group in
                for (index, rollout) in rollouts.enumerated() {
                    let prompt = judge.prompt(example: example, answer: Self.answerText(rollout))
                    group.addTask { (index, try await judge.score(prompt: prompt, imageDataURL: image)) }
                }
                var scores = [Double](repeating: .nan, count: rollouts.count)
                for try await (index, score) in group { scores[index] = score }
                return scores
            }
        case .command:
            guard let program = programs[grader.name] else { throw RewardError(.graderFailed, "grader \"\(grader.name)\" was not set up") }
            do {
                return try await program.rewards(for: example, rollouts: rollouts, serverRewards: serverRewards)
            } catch {
                throw RewardError(error.kind, "grader \"\(grader.name)\": \(error.message)")
            }
        }
    }

    /// What the judge reads as `{answer}`: a query's answer, or the output as the server sent it.
    static func answerText(_ rollout: Rollout) -> String {
        if case .query(let answer, _)? = rollout.output { return answer }
        return rollout.raw["output"].map { String(decoding: $0.bytes, as: UTF8.self) } ?? ""
    }

    /// The example's image as a data URL when the judge wants it, read on NIO's thread pool.
    private func imageDataURL(for example: Example, judge: ModelGrader) async throws -> String? {
        guard judge.config.image, let file = example.image else { return nil }
        let maxBytes = maxImageBytes
        return try await NIOThreadPool.singleton.runIfActive { try ImageCache.encode(file, maxBytes: maxBytes) }
    }

    public func close() async {
        for program in programs.values { await program.close() }
        for judge in models.values { await judge.shutdown() }
    }
}
