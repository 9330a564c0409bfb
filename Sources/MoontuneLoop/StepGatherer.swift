import Foundation
import MoondreamAPI
import MoontuneDecisions
import MoontuneJob
import NIOPosix
import ServiceLifecycle
import Synchronization

/// One group ready for train_step: for RL, the echoed request and rollouts exactly as the server
/// sent them, and one reward per rollout; for SFT, the request and its target.
struct PreparedGroup: Sendable {
    var exampleID: String
    var skill: Skill
    var request: RawJSON
    var rollouts: [RawJSON]
    var rewards: [Double]
    var staleness: Int
    /// The SFT target; nil for an RL group.
    var target: RawJSON? = nil
    /// Each rollout's `finish_reason` and answer length, where it carries them.
    var finishReasons: [String?] = []
    var answerLengths: [Int?] = []
    /// Issue 24: grader name → its score of each rollout (empty without `reward.graders`).
    var graderScores: [String: [Double]] = [:]

    var outcome: GroupOutcome {
        GroupOutcome(skill: skill, rewards: rewards, staleness: staleness, finishReasons: finishReasons, answerLengths: answerLengths)
    }

    var trainGroup: TrainGroup {
        if let target { return .sft(request: request, target: target) }
        return .rl(request: request, rollouts: rollouts, rewards: rewards)
    }
}

/// The rollouts and rewards of one step, or why they could not be had.
struct PreparedStep: Sendable {
    var step: Int
    var groups: Result<[PreparedGroup], any Error>
    var latenciesMs: [Double]
    var retries: [String: Int]
    /// When its rollouts were sent (after the wait for the policy they need).
    var startedAt: ContinuousClock.Instant
    /// The server's applied step when the rollouts were sent: the policy they were sampled from.
    var appliedAtSend: Int
    /// The run's rewinds when the gather started (`LoopStateMachine.rewinds`).
    var rewinds = 0
    /// `train.skip_constant_groups`: every group tried over the step's attempts (for its
    /// figures) and their example ids, and what the filter did; nil without it.
    var tried: [GroupOutcome]? = nil
    var triedIDs: [String] = []
    var signal: GroupSignal? = nil
}

/// Gathers the rollouts of one step: one request per example, all started at once and held to
/// the concurrency bound by the client's limiter, so the window stays full.
///
/// The requests are read and encoded first, off the cooperative pool; then the gatherer waits
/// until the policy is recent enough (step − 1 − `maxStaleness` applied) and sends them all.
struct StepGatherer: Sendable {
    let context: RunContext
    let finetuneID: String
    let step: Int
    let maxStaleness: Int
    let applied: AppliedSteps
    /// The run's rewinds when this gather started, handed on to its result.
    var rewinds = 0
    /// Which of the step's attempts (`DataOrder.indices(forStep:attempt:)`); 0 is its own batch.
    var attempt = 0

    func run() async -> PreparedStep {
        var prepared = await gather()
        prepared.rewinds = rewinds
        return prepared
    }

    private func gather() async -> PreparedStep {
        let clock = ContinuousClock()
        let retries = RetryCounter()
        let latencies = LatencyLog()
        let sent = SendMark(clock.now)
        if context.config.train.isSFTStep(step) {
            // An SFT step needs no rollouts, and no policy: its groups come from the ground truth.
            do {
                let groups = try await buildSFTGroups()
                return PreparedStep(step: step, groups: .success(groups), latenciesMs: [], retries: [:],
                                    startedAt: clock.now, appliedAtSend: applied.applied)
            } catch {
                return PreparedStep(step: step, groups: .failure(error), latenciesMs: [], retries: [:],
                                    startedAt: clock.now, appliedAtSend: applied.applied)
            }
        }
        do {
            let groups = try await cancelWhenGracefulShutdown {
                try await RetryReporting.$observer.withValue(retries.observer(forwardingTo: context.observer, waits: context.waits)) {
                    let requests = try await buildRequests()
                    let appliedAtSend = try await applied.wait(until: step - 1 - maxStaleness)
                    sent.set(clock.now, applied: appliedAtSend)
                    return try await send(requests, staleness: max(0, step - 1 - appliedAtSend), latencies: latencies)
                }
            }
            return PreparedStep(step: step, groups: .success(groups), latenciesMs: latencies.values, retries: retries.counts,
                                startedAt: sent.instant, appliedAtSend: sent.applied)
        } catch {
            return PreparedStep(step: step, groups: .failure(error), latenciesMs: latencies.values, retries: retries.counts,
                                startedAt: sent.instant, appliedAtSend: sent.applied)
        }
    }

    private func send(_ requests: [(Example, EncodedRolloutsRequest)], staleness: Int,
                      latencies: LatencyLog) async throws -> [PreparedGroup] {
        try await withThrowingTaskGroup(of: (Int, PreparedGroup).self) { group in
            for (position, (example, request)) in requests.enumerated() {
                group.addTask {
                    let clock = ContinuousClock()
                    let started = clock.now
                    let response = try await context.client.rollouts(request)
                    latencies.append((clock.now - started).milliseconds)
                    let graded = try await context.scorer.graded(for: example, rollouts: response.rollouts,
                                                                 serverRewards: response.rewards)
                    let rewards = graded.rewards
                    guard rewards.count == response.rollouts.count, rewards.allSatisfy(\.isFinite) else {
                        throw JobFailure("rewards for example \(example.id): \(rewards.count) finite numbers expected for "
                            + "\(response.rollouts.count) rollouts")
                    }
                    return (position, PreparedGroup(exampleID: example.id, skill: example.skill, request: response.request,
                                                    rollouts: response.rollouts.map(\.raw), rewards: rewards, staleness: staleness,
                                                    finishReasons: response.rollouts.map(\.finishReason),
                                                    answerLengths: response.rollouts.map(\.answerLength),
                                                    graderScores: graded.scores))
                }
            }
            var groups: [(Int, PreparedGroup)] = []
            for try await result in group { groups.append(result) }
            return groups.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The SFT groups of the step's examples, in group order, read off the cooperative pool.
    private func buildSFTGroups() async throws -> [PreparedGroup] {
        let builder = context.builder
        return try await forEachExample { example in
            guard case let .sft(request, target) = try builder.sftGroup(for: example) else {
                throw JobFailure("internal: an SFT group was not built for example \(example.id)")
            }
            return PreparedGroup(exampleID: example.id, skill: example.skill, request: request, rollouts: [], rewards: [],
                                 staleness: 0, target: target)
        }
    }

    /// Reads the step's examples and their images and encodes the requests, off the cooperative
    /// pool (file reads block), in group order.
    private func buildRequests() async throws -> [(Example, EncodedRolloutsRequest)] {
        let builder = context.builder, finetuneID = finetuneID, rollouts = context.config.train.rolloutsPerGroup
        return try await forEachExample { example in
            (example, try EncodedRolloutsRequest(builder.rolloutsRequest(for: example, finetuneID: finetuneID, numRollouts: rollouts)))
        }
    }

    /// `transform` of each of the step's examples (the data order's), in group order, on NIO's
    /// thread pool: reading examples and images blocks.
    private func forEachExample<T: Sendable>(_ transform: @escaping @Sendable (Example) throws -> T) async throws -> [T] {
        let dataset = context.dataset
        let order = DataOrder(count: dataset.count, seed: context.config.train.seed, groupsPerStep: context.config.train.groupsPerStep)
        let step = step, attempt = attempt
        return try await NIOThreadPool.singleton.runIfActive {
            try order.indices(forStep: step, attempt: attempt).map { try transform(try dataset.example(at: $0)) }
        }
    }
}

/// When a gatherer's rollouts went out, and from which policy; set once by its task.
private final class SendMark: Sendable {
    private let state: Mutex<(instant: ContinuousClock.Instant, applied: Int)>

    init(_ instant: ContinuousClock.Instant) {
        state = Mutex((instant, -1))
    }

    var instant: ContinuousClock.Instant { state.withLock { $0.instant } }
    var applied: Int { state.withLock { $0.applied } }

    func set(_ instant: ContinuousClock.Instant, applied: Int) {
        state.withLock { $0 = (instant, applied) }
    }
}
