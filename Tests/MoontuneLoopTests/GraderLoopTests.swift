import Foundation
import MoondreamAPI
import MoontuneJob
@testable import MoontuneLoop
import MoontuneStore
import Synchronization
import Testing

/// A judge in memory for the loop: refuses the first `downFor` calls (a judge that is down), then
/// answers `content` to every call.
final class LoopJudge: HTTPTransport {
    let downFor: Int
    let content: String
    let calls = Mutex(0)

    init(downFor: Int, content: String) {
        self.downFor = downFor
        self.content = content
    }

    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        let call = calls.withLock { $0 += 1; return $0 }
        guard call > downFor else { throw TransportError(.connect, "connection refused") }
        let body = String(decoding: try! JSONSerialization.data(withJSONObject: ["choices": [["message": ["content": content]]]]), as: UTF8.self)
        return HTTPResponseSpec(status: 200, headers: [], body: Array(body.utf8))
    }

    func shutdown() async {}
}

/// Issue 24 in the loop: what reaches train_step is the graders' weighted sum, for every rollout,
/// and nothing reaches it while a grader cannot score.
@Suite("Graders in the loop")
struct GraderLoopTests {
    static let instant: RetryEnvironment = {
        let offset = Mutex(Duration.zero)
        let origin = ContinuousClock.now
        return RetryEnvironment(now: { origin + offset.withLock { $0 } }, sleep: { d in offset.withLock { $0 += d } },
                                date: { Date() }, random: { 0.5 })
    }()

    nonisolated(unsafe) static let graders: [String: Any] = ["graders": [
        ["name": "judge", "type": "model", "weight": 2.0, "base_url": "http://127.0.0.1:9/v1", "model": "j", "prompt": "{answer}",
         "concurrency": 2],
    ]]

    /// A harness whose scorer is a grader set over `judge`, with `attempts` retries of the judge.
    private func harness(_ judge: LoopJudge, attempts: Int = 50, steps: Int = 3, eval: Int = 0) throws -> LoopHarness {
        let plain = try LoopHarness(steps: steps, eval: eval, extra: ["reward": Self.graders, "api": [
            "base_url": "http://127.0.0.1:9/v1", "api_key_env": "MOONDREAM_API_KEY", "in_doubt_wait_s": 30, "max_attempts": attempts]])
        let set = try GraderSet(config: plain.config, environment: [:], transport: judge, retryEnvironment: Self.instant)
        plain.remove()
        return try LoopHarness(steps: steps, eval: eval, scorer: set, extra: ["reward": Self.graders, "api": [
            "base_url": "http://127.0.0.1:9/v1", "api_key_env": "MOONDREAM_API_KEY", "in_doubt_wait_s": 30, "max_attempts": attempts]])
    }

    @Test func anEvalRecordsEachGradersMeanWithIt() async throws {
        let judge = LoopJudge(downFor: 0, content: "{\"score\": 0.75}")
        let loop = try harness(judge, steps: 2, eval: 3)
        defer { loop.remove() }
        #expect(await loop.run().state == .completed)
        let evals = await loop.store.evalRecords
        #expect(evals.keys.sorted() == [0, 2])
        for eval in evals.values {
            #expect(eval.graderMeans == ["judge": 0.75], "the judge's own score, not the weighted reward: \(eval.graderMeansJSON ?? "nil")")
            #expect(eval.rewardMean == 1.5, "the reward is the weighted sum")
        }
    }

    @Test func aJudgeDownAtFirstIsWaitedForAndEveryRewardSentIsTheWeightedScore() async throws {
        let judge = LoopJudge(downFor: 5, content: "```json\n{\"score\": 0.75}\n```")
        let loop = try harness(judge)
        defer { loop.remove() }
        let outcome = await loop.run()
        #expect(outcome.state == .completed, "\(outcome)")
        let sent = loop.service.sentRewards.flatMap { $0 }.flatMap { $0 }
        // 3 steps × 2 groups × 2 rollouts, each 2.0 × 0.75.
        #expect(sent.count == 12)
        #expect(sent.allSatisfy { $0 == 1.5 }, "\(sent)")
        #expect(judge.calls.withLock { $0 } == 12 + 5)
        #expect(await loop.isExact())
    }

    @Test func aJudgeGivenUpOnFailsTheJobNamingItAndNothingIsTrained() async throws {
        let judge = LoopJudge(downFor: .max, content: "1")
        let loop = try harness(judge, attempts: 3)
        defer { loop.remove() }
        let outcome = await loop.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("grader \"judge\"") == true, "\(outcome.error ?? "")")
        #expect(loop.service.trainCalls == 0)
        #expect(loop.service.sentRewards.isEmpty)
    }

    @Test func aReplyWithoutAScoreFailsTheJobQuotingItNeverAZero() async throws {
        let judge = LoopJudge(downFor: 0, content: "Looks fine to me!")
        let loop = try harness(judge)
        defer { loop.remove() }
        let outcome = await loop.run()
        #expect(outcome.state == .failed)
        #expect(outcome.error?.contains("Looks fine to me!") == true, "\(outcome.error ?? "")")
        #expect(loop.service.trainCalls == 0)
    }
}
