import Foundation
import Testing
@testable import MoondreamAPI

/// Every answer shape the service has been seen to send — the reference's and the live
/// service's (its official SDK) — through the same decoders.
@Suite struct LiveServiceAnswerTests {
    static let finetune = #"{"finetune_id":"01FT","name":"job","rank":16,"created_at_ms":1,"updated_at_ms":2}"#

    @Test(arguments: [
        finetune,
        #"{"finetune":\#(finetune)}"#,
        #"{"finetune":{"finetune_id":"01FT","name":"job","rank":16,"status":"ready","extra":{"a":[1]}}}"#,
    ])
    func aFinetuneReadsPlainOrWrappedAndIgnoresUnknownFields(_ body: String) async throws {
        let transport = ScriptedTransport([.answer(200, body)])
        let finetune = try await makeClient(transport).finetune(id: "01FT")
        #expect(finetune.finetuneID == "01FT")
        #expect(finetune.name == "job")
        #expect(finetune.rank == 16)
    }

    @Test func aFinetuneWithoutNameOrRankStillReads() async throws {
        let transport = ScriptedTransport([.answer(200, #"{"finetune":{"finetune_id":"01FT"}}"#)])
        let finetune = try await makeClient(transport).finetune(id: "01FT")
        #expect(finetune.finetuneID == "01FT")
        #expect(finetune.name == "")
        #expect(finetune.rank == 0)
    }

    @Test func aFinetuneWithoutItsIDIsRefusedNamingTheEndpointAndTheField() async throws {
        let transport = ScriptedTransport([.answer(200, #"{"finetune":{"name":"job","rank":16}}"#)])
        let error = try await #require(throws: APIError.self) { try await makeClient(transport).finetune(id: "01FT") }
        #expect(error.kind == .undecodable)
        #expect(error.description.contains("GET /tuning/finetunes/01FT"))
        #expect(error.description.contains("finetune_id"))
    }

    @Test func checkpointsCarryExpiresAtWhenTheServerSendsIt() async throws {
        let transport = ScriptedTransport([
            .answer(200, #"{"ok":true,"checkpoint":{"checkpoint_id":"c1","finetune_id":"f","step":3,"expires_at_ms":1900000000000,"created_at_ms":5}}"#),
            .answer(200, #"{"ok":true,"checkpoint":{"checkpoint_id":"c1","step":3,"expires_at_ms":null}}"#),
            .answer(200, #"{"checkpoints":[{"checkpoint_id":"c1","finetune_id":"f","step":3,"expires_at_ms":1900000000000},{"checkpoint_id":"c2","finetune_id":"f","step":4}],"next_cursor":null,"has_more":false}"#),
        ])
        let client = makeClient(transport)
        let saved = try await client.saveCheckpoint(finetuneID: "f")
        #expect(saved.expiresAtMs == 1_900_000_000_000)
        let bare = try await client.saveCheckpoint(finetuneID: "f")
        #expect(bare.expiresAtMs == nil)
        #expect(bare.finetuneID == "f")
        let page = try await client.listCheckpoints(finetuneID: "f")
        #expect(page.items.map(\.expiresAtMs) == [1_900_000_000_000, nil])
    }

    @Test func aCheckpointWithoutItsStepIsRefused() async throws {
        let transport = ScriptedTransport([.answer(200, #"{"ok":true,"checkpoint":{"checkpoint_id":"c1"}}"#)])
        let error = try await #require(throws: APIError.self) { try await makeClient(transport).saveCheckpoint(finetuneID: "f") }
        #expect(error.kind == .undecodable)
        #expect(error.description.contains("step"))
    }

    @Test func trainStepReadsTheLiveAnswer() async throws {
        let body = #"{"step":7,"applied":true,"kl":0.012,"router_kl":null,"grad_norm":1.5,"sft_loss":null,"reward_mean":0.4,"reward_std":0.2,"note":"x"}"#
        let result = MoondreamClient.parseTrainStep(Array(body.utf8))
        #expect(result.step == 7)
        #expect(result.applied == true)
        #expect(result.numbers == ["kl": 0.012, "grad_norm": 1.5, "reward_mean": 0.4, "reward_std": 0.2])
    }

    @Test(arguments: ["{}", "", "  \n", "not json", "[1,2]", #"{"step":"seven","applied":"yes"}"#, #"{"step":-1}"#])
    func trainStepAnswersWithoutAUsableStepReadAsTheReference(_ body: String) {
        let result = MoondreamClient.parseTrainStep(Array(body.utf8))
        #expect(result.step == nil)
        #expect(result.applied == nil)
    }

    @Test func anUnappliedAnswerSaysSo() {
        let result = MoondreamClient.parseTrainStep(Array(#"{"step":4,"applied":false}"#.utf8))
        #expect(result.applied == false)
        #expect(result.step == 4)
    }

    @Test func trainStepHasItsOwnDeadline() async throws {
        let transport = ScriptedTransport([.answer(200, #"{"step":1,"applied":true}"#), .answer(200, #"{"ok":true,"checkpoint":{"checkpoint_id":"c","step":1}}"#)])
        let client = makeClient(transport, retry: RetryPolicy(requestTimeout: .seconds(120)))
        let group = TrainGroup(request: try RawJSON(validating: #"{"skill":"query","question":"q"}"#),
                               rollouts: [try RawJSON(validating: #"{"skill":"query","output":{"answer":"a"}}"#)], rewards: [1])
        _ = try await client.trainStep(finetuneID: "f", groups: [group], lr: 0.002, timeout: .seconds(900))
        _ = try await client.saveCheckpoint(finetuneID: "f")
        #expect(transport.requests.map(\.timeout) == [.seconds(900), .seconds(120)])
    }

    @Test func everyRLGroupIsSentWithModeRLAndSFTGroupsWithTheirTarget() async throws {
        let transport = ScriptedTransport([.answer(200, "{}")])
        let rl = TrainGroup.rl(request: try RawJSON(validating: #"{"skill":"point","object":"cat","image_url":"data:x"}"#),
                               rollouts: [try RawJSON(validating: #"{"skill":"point","output":{"points":[]},"finish_reason":"stop"}"#)],
                               rewards: [0.5])
        let sft = TrainGroup.sft(request: try RawJSON(validating: #"{"skill":"query","question":"q"}"#),
                                 target: try RawJSON(validating: #"{"answer":"red"}"#))
        _ = try await makeClient(transport).trainStep(finetuneID: "f", groups: [rl, sft], lr: 0.002)
        let body = try #require(transport.requests.first?.body)
        #expect(body == #"{"finetune_id":"f","groups":[{"mode":"rl","request":{"skill":"point","object":"cat","image_url":"data:x"},"#
            + #""rollouts":[{"skill":"point","output":{"points":[]},"finish_reason":"stop"}],"rewards":[0.5]},"#
            + #"{"mode":"sft","request":{"skill":"query","question":"q"},"target":{"answer":"red"}}],"lr":0.002}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        #expect((parsed?["groups"] as? [[String: Any]])?.compactMap { $0["mode"] as? String } == ["rl", "sft"])
    }

    @Test func liveRolloutsWithExtraFieldsAndAnObjectReasoningDecode() throws {
        let body = #"{"request":{"skill":"query","question":"q","reasoning":true},"rollouts":[{"skill":"query","finish_reason":"length","#
            + #""output":{"answer":"red","reasoning":{"text":"the car is red","grounding":[{"start_idx":0,"end_idx":3,"points":[[1,2]]}]}},"#
            + #""answer_tokens":[1,2,3],"thinking_tokens":[4],"has_answer_separator":true,"coords":[],"sizes":[]}],"rewards":null}"#
        let response = try MoondreamClient.parseRollouts(Array(body.utf8), skill: .query, endpoint: "POST /tuning/rollouts")
        let rollout = try #require(response.rollouts.first)
        #expect(rollout.output == .query(answer: "red", reasoning: "the car is red"))
        // Passed back unchanged, every opaque field included.
        #expect(String(decoding: rollout.raw.bytes, as: UTF8.self).contains(#""answer_tokens":[1,2,3]"#))
    }

    @Test func metricsPushesAreCheckedAsTheServiceChecksThem() async throws {
        #expect(MetricName.isValid("train/reward_mean"))
        #expect(MetricName.isValid("eval/point/reward_mean"))
        #expect(MetricName.isValid("a-b_c/D9"))
        #expect(!MetricName.isValid("sys/loss"))
        #expect(!MetricName.isValid("usr/x"))
        #expect(!MetricName.isValid("has space"))
        #expect(!MetricName.isValid(""))
        #expect(MetricName.problem(in: [:]) != nil)
        #expect(MetricName.problem(in: ["x": .nan]) != nil)
        #expect(MetricName.problem(in: Dictionary(uniqueKeysWithValues: (0...100).map { ("m\($0)", 1.0) })) != nil)
        #expect(MetricName.problem(in: ["train/reward_mean": 0.5]) == nil)

        let transport = ScriptedTransport([.answer(200, #"{"ok":true,"step":3,"logged_count":1}"#)])
        let client = makeClient(transport)
        let logged = try await client.logMetrics(finetuneID: "f", step: 3, metrics: ["train/reward_mean": 0.5])
        #expect(logged == 1)
        #expect(transport.requests.first?.url == "http://127.0.0.1:9/v1/tuning/finetunes/f/metrics")
        let sent = try #require(transport.requests.first?.body)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
        #expect(parsed["step"] as? Int == 3)
        #expect(parsed["metrics"] as? [String: Double] == ["train/reward_mean": 0.5])
        let refused = try await #require(throws: APIError.self) {
            try await client.logMetrics(finetuneID: "f", step: 3, metrics: ["sys/x": 1])
        }
        #expect(refused.kind == .badRequest)
        #expect(transport.requests.count == 1)  // never sent
    }

    @Test func aFailingMetricsPushIsTriedAFewTimesNotForever() async throws {
        let transport = ScriptedTransport(Array(repeating: .answer(503, "down"), count: 20))
        let client = makeClient(transport, retry: RetryPolicy(maxAttempts: 100, baseDelay: .seconds(1), giveUpAfter: .seconds(900)))
        _ = try await #require(throws: APIError.self) {
            try await client.logMetrics(finetuneID: "f", step: 1, metrics: ["train/reward_mean": 0.5])
        }
        #expect(transport.requests.count == 3)
    }
}
