import MoontuneConfig
import MoontuneDataset
import Foundation
import MoondreamAPI

/// Scores the rollouts of one group.
public protocol RewardScorer: Sendable {
    /// One reward per rollout, in rollout order, taken by the loop as they are (no normalization).
    /// Throws `RewardError` (missing server rewards, wrong count, non-finite, a failing reward
    /// program); the loop then does not apply the step.
    func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double]

    /// The rewards with each grader's scores (issue 24); without graders, `rewards` and none.
    func graded(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> GradedRewards

    /// Releases what the scorer holds (the reward program's process). Idempotent.
    func close() async
}

extension RewardScorer {
    public func close() async {}

    public func graded(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> GradedRewards {
        GradedRewards(rewards: try await rewards(for: example, rollouts: rollouts, serverRewards: serverRewards), scores: [:])
    }
}

/// Why a group could not be scored. The message names the example and, for a reward program,
/// the program.
public struct RewardError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Ground truth was sent but the server returned no rewards, or not one per rollout.
        case missingServerRewards
        /// A reward program answered a number of rewards other than the number of rollouts.
        case wrongCount
        /// A reward is NaN or infinite.
        case nonFinite
        /// The reward program could not be started, exited, or closed its output.
        case programFailed
        /// The reward program took longer than `reward.command_timeout_s`.
        case programTimedOut
        /// The reward program answered something that is not a JSON list of numbers.
        case programAnsweredBadly
        /// A grader gave up (issue 24): its judge could not be reached within the retry policy.
        case graderFailed
        /// A judge answered without a usable score; the message quotes the reply.
        case graderAnsweredBadly
        /// A grader cannot score this kind of example (text similarity on a point example).
        case graderCannotScore
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// The scorer a config asks for: the reward program when `reward.command` is set, else the
/// built-in rewards (the server's or local ones for point and detect, local ones for query).
public func makeRewardScorer(config: JobConfig, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any RewardScorer & Sendable {
    if !config.reward.graders.isEmpty { return try GraderSet(config: config, environment: environment) }
    if let command = config.reward.command {
        let program = RewardProgram(command: command, timeout: .milliseconds(Int64(config.reward.commandTimeoutSeconds * 1000)),
                                    workingDirectory: config.sourceURL.deletingLastPathComponent(),
                                    hiddenEnvironment: [config.api.apiKeyEnv])
        return ProgramRewardScorer(program: program)
    }
    return BuiltinRewardScorer(config: config.reward)
}

/// Server rewards for point and detect when `reward.source` is `server`; `LocalRewards` otherwise.
public struct BuiltinRewardScorer: RewardScorer {
    public let config: RewardConfig

    public init(config: RewardConfig) {
        self.config = config
    }

    public func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        try score(example, rollouts, serverRewards)
    }

    /// The synchronous core, for tests and callers outside async code.
    public func score(_ example: Example, _ rollouts: [Rollout], _ serverRewards: [Double]?) throws(RewardError) -> [Double] {
        guard example.skill != .query, config.source == .server else {
            return rollouts.map { LocalRewards.reward(for: $0.output, example: example, config: config) }
        }
        let name = "example \"\(example.id)\" (line \(example.line))"
        guard let serverRewards else {
            throw RewardError(.missingServerRewards, "the server sent no rewards for \(name) although its ground truth was sent")
        }
        guard serverRewards.count == rollouts.count else {
            throw RewardError(.missingServerRewards,
                              "the server sent \(serverRewards.count) rewards for \(rollouts.count) rollouts of \(name)")
        }
        if let bad = serverRewards.firstIndex(where: { !$0.isFinite }) {
            throw RewardError(.nonFinite, "the server's reward \(bad) for \(name) is \(serverRewards[bad])")
        }
        return serverRewards
    }
}

/// Every group goes to the reward program.
package struct ProgramRewardScorer: RewardScorer {
    package let program: RewardProgram

    package func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws -> [Double] {
        try await program.rewards(for: example, rollouts: rollouts, serverRewards: serverRewards)
    }

    package func close() async {
        await program.close()
    }
}
