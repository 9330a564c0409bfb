import Foundation
import NIOCore
import Testing
@testable import MoondreamAPI

/// Malformed server answers cannot crash the client: random bytes and random mutations of valid
/// answers go through every decoder, which must either return a value that keeps its promises or
/// throw a typed error. A crash (a trap in a decoder) ends the test process, so it fails the run.
///
/// `MOONTUNE_FUZZ_ITERATIONS` sets the iterations per decoder (`make fuzz` sets a large number);
/// `MOONTUNE_FUZZ_SEED` replays a run. Failures print the seed and the input.
@Suite struct DecoderFuzzTests {
    static let iterations = ProcessInfo.processInfo.environment["MOONTUNE_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2_000
    static let seed = ProcessInfo.processInfo.environment["MOONTUNE_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x6D6F_6F6E_7475_6E65

    /// The decoders under test, each with valid answers to mutate.
    static let targets: [FuzzTarget] = [
        .rollouts(.point), .rollouts(.detect), .rollouts(.query),
        .createFinetune, .finetune, .listFinetunes, .listCheckpoints, .saveCheckpoint, .trainStep,
        .query, .caption, .point, .detect, .errorBody,
    ]

    @Test(arguments: targets)
    func randomMutationsOfValidAnswersNeverCrashTheDecoder(_ target: FuzzTarget) async throws {
        var random = FuzzRandom(seed: Self.seed ^ target.seedSalt)
        var typedErrors = 0
        var decoded = 0
        for iteration in 0..<Self.iterations {
            let body = random.mutate(random.pick(target.validAnswers))
            let context = "\(target) iteration \(iteration), seed \(Self.seed): \(FuzzRandom.show(body))"
            switch await target.run(body) {
            case .decoded(let problem):
                decoded += 1
                if let problem { Issue.record("\(problem) — \(context)") }
            case .refused(let error):
                typedErrors += 1
                #expect(error.kind == .undecodable || target == .errorBody, "\(error) — \(context)")
            case .unexpected(let error):
                Issue.record("untyped error \(error) — \(context)")
            }
        }
        // Both outcomes happen, or the mutations are too weak (or too strong) to test anything.
        if target == .errorBody {
            #expect(decoded == 0, "a 5xx answer was taken for a success")
        } else {
            #expect(decoded > 0, "no mutation decoded")
        }
        #expect(typedErrors > 0 || target == .errorBody || target == .trainStep, "no mutation was refused")
    }

    @Test(arguments: targets)
    func randomBytesNeverCrashTheDecoder(_ target: FuzzTarget) async throws {
        var random = FuzzRandom(seed: Self.seed ^ target.seedSalt ^ 0xB17E5)
        for iteration in 0..<Self.iterations / 2 {
            let body = random.bytes(count: random.below(iteration % 10 == 0 ? 4096 : 64))
            if case .unexpected(let error) = await target.run(body) {
                Issue.record("untyped error \(error) — \(target) seed \(Self.seed): \(FuzzRandom.show(body))")
            }
        }
    }

    @Test func rawJSONKeepsItsPromisesOnRandomMutations() throws {
        var random = FuzzRandom(seed: Self.seed ^ 0x4A50)
        let valid = FuzzTarget.allValidAnswers
        for _ in 0..<Self.iterations * 2 {
            let bytes = random.chance(0.2) ? random.bytes(count: random.below(200)) : random.mutate(random.pick(valid))
            guard let raw = try? RawJSON(validating: bytes) else { continue }
            // A validated value re-validates to itself, and its parts are reachable.
            #expect((try? RawJSON(validating: raw.bytes))?.bytes == raw.bytes, "\(FuzzRandom.show(bytes))")
            if raw.isArray { #expect(raw.arrayElements() != nil, "\(FuzzRandom.show(bytes))") }
            if raw.isObject, let members = raw.objectMembers() {
                for member in members { _ = raw[member.key]?.text }
            }
            _ = TrainStepResult(raw: raw).numbers
            _ = TrainStepResult(raw: raw).step
            for skill in Skill.allCases { _ = RolloutOutput.decode(raw, skill: skill) }
        }
    }

    @Test func deepNestingAndHugeBodiesAreRefusedNotFatal() async throws {
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        let deepObject = String(repeating: #"{"a":"#, count: 50_000) + "1" + String(repeating: "}", count: 50_000)
        let wide = "[" + Array(repeating: "1e999", count: 200_000).joined(separator: ",") + "]"
        for body in [deep, deepObject, wide, #"{"request":{},"rollouts":\#(deep)}"#] {
            for target in Self.targets {
                if case .unexpected(let error) = await target.run(Array(body.utf8)) {
                    Issue.record("untyped error \(error) — \(target)")
                }
            }
        }
    }
}

/// One decoder, with its valid answers and how to drive it.
enum FuzzTarget: Sendable, Hashable, CustomTestStringConvertible {
    case rollouts(Skill)
    case createFinetune, finetune, listFinetunes, listCheckpoints, saveCheckpoint, trainStep
    case query, caption, point, detect
    /// A 5xx answer whose body is mined for the server's message.
    case errorBody

    enum Outcome {
        /// Decoded; the string says which promise the value broke, if any.
        case decoded(String?)
        case refused(APIError)
        case unexpected(any Error)
    }

    var testDescription: String {
        switch self {
        case .rollouts(let skill): "rollouts(\(skill.rawValue))"
        default: "\(self)"
        }
    }

    var seedSalt: UInt64 {
        UInt64(truncatingIfNeeded: testDescription.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) })
    }

    static var allValidAnswers: [[UInt8]] {
        let all: [FuzzTarget] = [.rollouts(.point), .rollouts(.detect), .rollouts(.query), .createFinetune, .finetune, .listFinetunes,
                                 .listCheckpoints, .saveCheckpoint, .trainStep, .query, .caption, .point, .detect, .errorBody]
        return all.flatMap(\.validAnswers)
    }

    /// Answers as the reference describes them, plus the extras real servers add.
    var validAnswers: [[UInt8]] {
        let texts: [String] = switch self {
        case .rollouts(.point):
            [#"{"request":{"skill":"point","object":"cat","image_url":"data:image/png;base64,AAAA","settings":{"temperature":1.0}},"rollouts":[{"skill":"point","finish_reason":"stop","output":{"points":[{"x":0.52,"y":0.31}]},"answer_tokens":[1,2,3],"thinking_tokens":[],"coords":[{"x":0.52,"y":0.31}],"sizes":[]},{"skill":"point","finish_reason":"length","output":{"points":[]},"answer_tokens":[],"thinking_tokens":[],"coords":[],"sizes":[]}],"rewards":[1.0,0.0]}"#,
             #"{"request":{"skill":"point"},"rollouts":[{"output":{"points":[{"x":0.1,"y":0.9},{"x":0.5,"y":0.5}]}}],"rewards":null}"#]
        case .rollouts(.detect):
            [#"{"request":{"skill":"detect","object":"car","image_url":"https://x/y.jpg","settings":{"max_objects":8}},"rollouts":[{"skill":"detect","finish_reason":"stop","output":{"objects":[{"x_min":0.12,"y_min":0.22,"x_max":0.39,"y_max":0.58}]},"answer_tokens":[5],"thinking_tokens":[],"coords":[],"sizes":[{"w":0.2,"h":0.3}]}],"rewards":[0.75]}"#]
        case .rollouts(.query):
            [#"{"request":{"skill":"query","question":"What color?","reasoning":true},"rollouts":[{"skill":"query","finish_reason":"stop","output":{"answer":"red","reasoning":{"text":"it is red","grounding":[]}},"answer_tokens":[9],"thinking_tokens":[4,4]},{"skill":"query","output":{"answer":"blue"}}]}"#]
        case .createFinetune: [#"{"finetune_id":"01HXYZABCDEF"}"#]
        case .finetune:
            [#"{"finetune_id":"01HXYZ","name":"my-finetune","rank":32,"created_at_ms":1736937000000,"updated_at_ms":1736937000000}"#]
        case .listFinetunes:
            [#"{"finetunes":[{"finetune_id":"01HXYZ","name":"a","rank":8,"created_at_ms":1,"updated_at_ms":2},{"finetune_id":"01HXZZ","name":"b","rank":16}],"next_cursor":"c2","has_more":true}"#,
             #"{"finetunes":[],"next_cursor":null,"has_more":false}"#]
        case .listCheckpoints:
            [#"{"checkpoints":[{"checkpoint_id":"01HCKPT","finetune_id":"01HXYZ","step":100,"created_at_ms":1,"updated_at_ms":2}],"next_cursor":null,"has_more":false}"#]
        case .saveCheckpoint:
            [#"{"checkpoint":{"checkpoint_id":"01HCKPT","finetune_id":"01HXYZ","step":100,"created_at_ms":1736937000000,"updated_at_ms":1736937000000}}"#]
        case .trainStep: ["{}", #"{"step":12,"kl":0.01,"grad_norm":1.5,"loss":-0.2}"#]
        case .query: [#"{"answer":"red"}"#, #"{"answer":"a\u00e9\ud83d\ude80","request_id":"r1"}"#]
        case .caption: [#"{"caption":"A red car parked on a street."}"#]
        case .point: [#"{"points":[{"x":0.5,"y":0.5},{"x":0.1,"y":0.2}]}"#]
        case .detect: [#"{"objects":[{"x_min":0.1,"y_min":0.2,"x_max":0.4,"y_max":0.6}]}"#]
        case .errorBody: [#"{"error":{"message":"finetune not found","code":"not_found"}}"#, #"{"detail":"bad gateway"}"#, "<html>502</html>"]
        }
        return texts.map { Array($0.utf8) }
    }

    /// Feeds `body` to this decoder as a server's answer.
    func run(_ body: [UInt8]) async -> Outcome {
        if case .rollouts(let skill) = self {
            do {
                let response = try MoondreamClient.parseRollouts(body, skill: skill, endpoint: "POST /tuning/rollouts")
                return .decoded(Self.brokenPromise(response))
            } catch let error as APIError {
                return .refused(error)
            } catch {
                return .unexpected(error)
            }
        }
        let client = MoondreamClient(
            configuration: ClientConfiguration(baseURL: "http://127.0.0.1:9/v1", apiKey: APIKey("sk-fuzz"),
                                               retry: RetryPolicy(maxAttempts: 1)),
            transport: FixedAnswer(status: self == .errorBody ? 503 : 200, body: body))
        // FixedAnswer holds no connections, so the client needs no shutdown.
        do {
            switch self {
            case .createFinetune: _ = try await client.createFinetune(name: "n", rank: 8)
            case .finetune: _ = try await client.finetune(id: "01HXYZ")
            case .listFinetunes: _ = try await client.listFinetunes()
            case .listCheckpoints: _ = try await client.listCheckpoints(finetuneID: "01HXYZ")
            case .saveCheckpoint: _ = try await client.saveCheckpoint(finetuneID: "01HXYZ")
            case .trainStep:
                let raw = try RawJSON(validating: "{}")
                let result = try await client.trainStep(finetuneID: "f", groups: [TrainGroup(request: raw, rollouts: [raw], rewards: [1])],
                                                        lr: 0.002)
                if !result.raw.isObject { return .decoded("train_step result is not an object: \(result.raw.text)") }
                if result.numbers.values.contains(where: { !$0.isFinite }) { return .decoded("a non-finite statistic") }
            case .query: _ = try await client.query(model: nil, imageURL: nil, question: "q")
            case .caption: _ = try await client.caption(model: nil, imageURL: "data:,")
            case .point: _ = try await client.point(model: nil, imageURL: "data:,", object: "o")
            case .detect: _ = try await client.detect(model: nil, imageURL: "data:,", object: "o")
            case .errorBody:
                _ = try await client.finetune(id: "01HXYZ")
                return .decoded("a 503 was not an error")
            case .rollouts: break
            }
            return .decoded(nil)
        } catch let error as APIError {
            if self == .errorBody, error.message.contains("sk-fuzz") { return .decoded("the key leaked into the error") }
            return .refused(error)
        } catch {
            return .unexpected(error)
        }
    }

    /// What a decoded rollouts answer promises the loop.
    static func brokenPromise(_ response: RolloutsResponse) -> String? {
        if response.rollouts.isEmpty { return "no rollouts" }
        if !response.request.isObject { return "the request is not an object" }
        if !response.rollouts.allSatisfy(\.raw.isObject) { return "a rollout is not an object" }
        if let rewards = response.rewards {
            if rewards.count != response.rollouts.count { return "\(rewards.count) rewards for \(response.rollouts.count) rollouts" }
            if !rewards.allSatisfy(\.isFinite) { return "a non-finite reward" }
        }
        for rollout in response.rollouts {
            // What goes back to train_step must be the server's bytes, still valid JSON.
            if (try? RawJSON(validating: rollout.raw.bytes)) == nil { return "a rollout's bytes do not re-validate" }
        }
        return nil
    }
}

/// A transport that answers every request with the same status and body.
final class FixedAnswer: HTTPTransport {
    let status: Int
    let body: [UInt8]

    init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        HTTPResponseSpec(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    func shutdown() async {}
}
