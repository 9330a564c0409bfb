import Foundation
import NIOCore
import Synchronization
import Testing
@testable import MoondreamAPI
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards

/// A judge in memory: answers each call with `reply(call number, prompt)`, after `delay`, and
/// counts the calls in flight.
final class FakeJudge: HTTPTransport {
    struct State {
        var calls = 0
        var inFlight = 0
        var maxInFlight = 0
        var requests: [(headers: [(String, String)], body: String)] = []
    }
    let state = Mutex(State())
    let delay: Duration
    let reply: @Sendable (Int, String) -> HTTPResponseSpec?

    init(delay: Duration = .zero, reply: @escaping @Sendable (Int, String) -> HTTPResponseSpec?) {
        self.delay = delay
        self.reply = reply
    }

    static func content(_ text: String, status: Int = 200) -> HTTPResponseSpec {
        let value = String(decoding: try! JSONSerialization.data(withJSONObject: ["choices": [["message": ["content": text]]]]), as: UTF8.self)
        return HTTPResponseSpec(status: status, headers: [], body: Array(value.utf8))
    }

    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        let body = request.body.map { String(decoding: $0.readableBytesView, as: UTF8.self) } ?? ""
        let call = state.withLock { state in
            state.calls += 1
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            state.requests.append((request.headers, body))
            return state.calls
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        if delay > .zero { try? await Task.sleep(for: delay) }
        guard let answer = reply(call, body) else { throw TransportError(.connect, "connection refused") }
        return answer
    }

    func shutdown() async {}
}

/// Retries without sleeping: time moves only when a backoff "sleeps".
private func instantRetries() -> RetryEnvironment {
    let offset = Mutex(Duration.zero)
    let origin = ContinuousClock.now
    return RetryEnvironment(now: { origin + offset.withLock { $0 } }, sleep: { d in offset.withLock { $0 += d } },
                            date: { Date() }, random: { 0.5 })
}

@Suite("Model grader")
struct ModelGraderTests {
    static let key = "judge-SECRET-key-0042"

    private func judge(_ transport: FakeJudge, concurrency: Int = 4, image: Bool = false, attempts: Int = 10) -> ModelGrader {
        var config = ModelGraderConfig(baseURL: "http://127.0.0.1:9/v1", model: "judge-1", apiKeyEnv: "JUDGE_API_KEY",
                                       prompt: "Q: {question}\nR: {reference}\nA: {answer}\nS: {skill} O: {object}")
        config.concurrency = concurrency
        config.image = image
        return ModelGrader(name: "judge", config: config, apiKey: Self.key,
                           retry: RetryPolicy(maxAttempts: attempts, giveUpAfter: .seconds(600)), transport: transport,
                           environment: instantRetries())
    }

    private let example = Example(index: 0, id: "q1", line: 3, skill: .query, image: nil, question: "What color is the car?",
                                  answers: ["red", "crimson"])

    @Test func theRequestIsAChatCompletionWithTheFilledPromptTheModelAndTheBearerKey() async throws {
        let transport = FakeJudge { _, _ in FakeJudge.content(#"{"score": 0.5}"#) }
        let grader = judge(transport)
        let score = try await grader.score(prompt: grader.prompt(example: example, answer: "dark red"),
                                           imageDataURL: "data:image/png;base64,AAAA")
        #expect(score == 0.5)
        let request = try #require(transport.state.withLock { $0.requests.first })
        #expect(request.headers.contains { $0.0 == "Authorization" && $0.1 == "Bearer \(Self.key)" })
        let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
        #expect(body["model"] as? String == "judge-1")
        let message = try #require((body["messages"] as? [[String: Any]])?.first)
        #expect(message["role"] as? String == "user")
        let parts = try #require(message["content"] as? [[String: Any]])
        #expect(parts.first?["text"] as? String == "Q: What color is the car?\nR: [\"red\",\"crimson\"]\nA: dark red\nS: query O: ")
        #expect((parts.last?["image_url"] as? [String: Any])?["url"] as? String == "data:image/png;base64,AAAA")
    }

    @Test func failuresAreRetriedAndReportedAsWaitsUntilTheJudgeAnswers() async throws {
        // Down (refused), then loading (503), then up.
        let transport = FakeJudge { call, _ in
            switch call {
            case 1, 2: nil
            case 3: HTTPResponseSpec(status: 503, headers: [], body: Array(#"{"error": {"message": "model loading"}}"#.utf8))
            default: FakeJudge.content("```json\n{\"score\": 0.25}\n```")
            }
        }
        let events = Mutex<[RetryEvent]>([])
        let settled = Mutex<[Bool]>([])
        let observer = RetryObserver({ event in events.withLock { $0.append(event) } },
                                     settled: { _, _, succeeded in settled.withLock { $0.append(succeeded) } })
        let score = try await RetryReporting.$observer.withValue(observer) {
            try await judge(transport).score(prompt: "p", imageDataURL: nil)
        }
        #expect(score == 0.25)
        #expect(events.withLock { $0.map(\.attempt) } == [1, 2, 3])
        #expect(events.withLock { $0.allSatisfy { $0.endpoint == "POST /chat/completions (grader judge)" } })
        #expect(settled.withLock { $0 } == [true])
    }

    @Test func aBackoffEndedByAGracefulStopIsACancellationNotAFailedGrader() async throws {
        let transport = FakeJudge { _, _ in nil }  // refused: retried after a backoff
        let observer = RetryObserver({ _ in }, backoff: { _, _ in throw CancellationError() })
        await #expect(throws: CancellationError.self) {
            try await RetryReporting.$observer.withValue(observer) { try await judge(transport).score(prompt: "p", imageDataURL: nil) }
        }
    }

    @Test func aJudgeGivenUpOnIsAnErrorNamingTheGraderWithoutTheKey() async throws {
        let transport = FakeJudge { _, _ in
            HTTPResponseSpec(status: 500, headers: [], body: Array("bad key Bearer \(ModelGraderTests.key)".utf8))
        }
        await #expect {
            try await judge(transport, attempts: 3).score(prompt: "p", imageDataURL: nil)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("grader \"judge\"") && text.contains("3 attempts") && !text.contains(Self.key)
        }
        #expect(transport.state.withLock { $0.calls } == 3)
    }

    @Test func aReplyWithoutAScoreIsAnErrorQuotingItAndIsNotRetried() async throws {
        let transport = FakeJudge { _, _ in FakeJudge.content("The answer looks right to me.") }
        await #expect {
            try await judge(transport).score(prompt: "p", imageDataURL: nil)
        } throws: { error in
            (error as? RewardError)?.kind == .graderAnsweredBadly && String(describing: error).contains("The answer looks right to me.")
        }
        #expect(transport.state.withLock { $0.calls } == 1)
    }

    @Test func noMoreThanConcurrencyCallsAreInFlight() async throws {
        let transport = FakeJudge(delay: .milliseconds(20)) { _, _ in FakeJudge.content("1") }
        let grader = judge(transport, concurrency: 3)
        let scores = try await withThrowingTaskGroup(of: Double.self) { group in
            for _ in 0..<24 { group.addTask { try await grader.score(prompt: "p", imageDataURL: nil) } }
            return try await group.reduce(into: [Double]()) { $0.append($1) }
        }
        #expect(scores.count == 24 && scores.allSatisfy { $0 == 1 })
        let peak = transport.state.withLock { $0.maxInFlight }
        #expect(peak <= 3)
        #expect(peak == 3, "the window should fill: peak \(peak)")
    }
}

/// Every grader of a set scores every rollout; the reward is recomputed here from the parts.
@Suite("Grader set")
struct GraderSetTests {
    @Test func rewardsAreTheWeightedSumOfEachGradersScoreOfEachRollout() async throws {
        let folder = try TemporaryFolder()
        try folder.dataset([#"{"id": "q1", "skill": "query", "question": "What is on the table?", "answer": ["a red apple", "apple"]}"#])
        let url = try folder.config(minimalConfig(top: #"""
            "reward": {"query": "exact", "graders": [
              {"name": "match", "type": "builtin", "weight": 0.2},
              {"name": "overlap", "type": "text_similarity", "metric": "token_f1", "weight": 0.3},
              {"name": "judge", "type": "model", "weight": 0.5, "base_url": "http://127.0.0.1:9/v1", "model": "j",
               "api_key_env": "JUDGE_API_KEY", "prompt": "{answer}", "concurrency": 2}
            ]}
            """#))
        let config = try JobConfig.load(from: url).config
        // The judge's score depends on the answer alone: one tenth of its length, at most 1.
        let transport = FakeJudge { _, body in
            let prompt = ((try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
                .flatMap { ($0["messages"] as? [[String: Any]])?.first?["content"] as? [[String: Any]] }?.first?["text"] as? String) ?? ""
            return FakeJudge.content(#"{"score": \#(min(1, Double(prompt.count) / 10))}"#)
        }
        let set = try GraderSet(config: config, environment: ["JUDGE_API_KEY": "k-123456789"], transport: transport,
                                retryEnvironment: instantRetries())
        let answers = ["apple", "A red apple.", "green pear", "red"]
        let rollouts = try answers.map { Rollout(raw: try RawJSON(validating: #"{"output": {"answer": "\#($0)"}}"#), skill: .query) }
        let example = Example(index: 0, id: "q1", line: 1, skill: .query, image: nil, question: "What is on the table?",
                              answers: ["a red apple", "apple"])
        let graded = try await set.graded(for: example, rollouts: rollouts, serverRewards: nil)
        await set.close()
        // By hand: exact match, token F1 against the best accepted answer, judge = length / 10.
        let match: [Double] = [1, 1, 0, 0]
        let overlap: [Double] = [1, 1, 0, 2 * 1 * 0.5 / 1.5]  // "red" vs [red, apple]: P 1, R 1/2
        let judge: [Double] = [0.5, 1, 1, 0.3]
        #expect(graded.scores["match"] == match)
        #expect(graded.scores["overlap"]!.enumerated().allSatisfy { abs($1 - overlap[$0]) < 1e-12 })
        #expect(graded.scores["judge"] == judge)
        for index in answers.indices {
            #expect(abs(graded.rewards[index] - (0.2 * match[index] + 0.3 * overlap[index] + 0.5 * judge[index])) < 1e-12)
        }
        #expect(transport.state.withLock { $0.maxInFlight } <= 2)
    }

    @Test func textSimilarityOnAPointExampleIsAnErrorNotAZero() async throws {
        let folder = try TemporaryFolder()
        try folder.dataset([#"{"id": "q1", "skill": "query", "question": "Q?", "answer": "a"}"#])
        let url = try folder.config(minimalConfig(top: #""reward": {"graders": [{"name": "o", "type": "text_similarity", "metric": "rouge_l"}]}"#))
        let set = try GraderSet(config: try JobConfig.load(from: url).config, environment: [:])
        let example = Example(index: 0, id: "p1", line: 1, skill: .point, image: nil, object: "x",
                              groundTruth: .points([Point(x: 0.5, y: 0.5)]))
        let rollout = Rollout(raw: try RawJSON(validating: #"{"output": {"points": [{"x": 0.5, "y": 0.5}]}}"#), skill: .point)
        await #expect(throws: RewardError.self) { try await set.graded(for: example, rollouts: [rollout], serverRewards: nil) }
        await set.close()
    }
}
