import Foundation
import MoondreamAPI
import MoontuneJob
import NIOPosix
import ServiceLifecycle

/// One group ready for train_step: the echoed request and rollouts exactly as the server sent
/// them, and one reward per rollout.
struct PreparedGroup: Sendable {
    var exampleID: String
    var skill: Skill
    var request: RawJSON
    var rollouts: [RawJSON]
    var rewards: [Double]
    var staleness: Int
}

/// The rollouts and rewards of one step, or why they could not be had.
struct PreparedStep: Sendable {
    var step: Int
    var groups: Result<[PreparedGroup], any Error>
    var latenciesMs: [Double]
    var retries: [String: Int]
    var startedAt: ContinuousClock.Instant
}

/// Gathers the rollouts of one step: one request per example, all started at once and held to
/// the concurrency bound by the client's limiter, so the window stays full.
struct StepGatherer: Sendable {
    let context: RunContext
    let finetuneID: String
    let step: Int
    /// The applied step when these rollouts were requested: their policy is at least this old.
    let appliedAtRequest: Int

    func run() async -> PreparedStep {
        let clock = ContinuousClock()
        let startedAt = clock.now
        let retries = RetryCounter()
        let latencies = LatencyLog()
        let staleness = max(0, step - 1 - appliedAtRequest)
        do {
            let groups = try await cancelWhenGracefulShutdown {
                try await RetryReporting.$observer.withValue(retries.observer(forwardingTo: context.observer)) {
                    try await gather(staleness: staleness, latencies: latencies)
                }
            }
            return PreparedStep(step: step, groups: .success(groups), latenciesMs: latencies.values, retries: retries.counts,
                                startedAt: startedAt)
        } catch {
            return PreparedStep(step: step, groups: .failure(error), latenciesMs: latencies.values, retries: retries.counts,
                                startedAt: startedAt)
        }
    }

    private func gather(staleness: Int, latencies: LatencyLog) async throws -> [PreparedGroup] {
        let order = DataOrder(count: context.dataset.count, seed: context.config.train.seed,
                              groupsPerStep: context.config.train.groupsPerStep)
        let indices = order.indices(forStep: step)
        return try await withThrowingTaskGroup(of: (Int, PreparedGroup).self) { group in
            for (position, index) in indices.enumerated() {
                group.addTask {
                    let (example, request) = try await buildRequest(index: index)
                    let clock = ContinuousClock()
                    let started = clock.now
                    let response = try await context.client.rollouts(request)
                    latencies.append((clock.now - started).milliseconds)
                    let rewards = try await context.scorer.rewards(for: example, rollouts: response.rollouts,
                                                                   serverRewards: response.rewards)
                    guard rewards.count == response.rollouts.count, rewards.allSatisfy(\.isFinite) else {
                        throw JobFailure("rewards for example \(example.id): \(rewards.count) finite numbers expected for "
                            + "\(response.rollouts.count) rollouts")
                    }
                    return (position, PreparedGroup(exampleID: example.id, skill: example.skill, request: response.request,
                                                    rollouts: response.rollouts.map(\.raw), rewards: rewards, staleness: staleness))
                }
            }
            var groups: [(Int, PreparedGroup)] = []
            for try await result in group { groups.append(result) }
            return groups.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Reads the example and its image off the cooperative pool: file reads block.
    private func buildRequest(index: Int) async throws -> (Example, RolloutsRequest) {
        let context = context
        let finetuneID = finetuneID
        return try await NIOThreadPool.singleton.runIfActive {
            let example = try context.dataset.example(at: index)
            let request = try context.builder.rolloutsRequest(for: example, finetuneID: finetuneID,
                                                              numRollouts: context.config.train.rolloutsPerGroup)
            return (example, request)
        }
    }
}
