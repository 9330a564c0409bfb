import Foundation
import Testing
@testable import MoondreamAPI

@Suite struct RolloutPassThroughTests {
    static let answer = #"""
    {"request": {"skill":"point","object":"cat","image_url":"data:image/png;base64,AAAA","_echo":{"z":1}},
     "rollouts": [
       {"skill":"point","output":{"points":[{"x":0.5,"y":0.25}]},"metadata":{"seq":9007199254740993,"note":"ünï \u2713 🚀","deep":{"a":[1,{"b":null}]}}},
       {"output":{"points":[]},"metadata":{"seq":-9223372036854775808}}
     ],
     "rewards": [0.75, 0],
     "unknown_top_level": true}
    """#

    @Test func rolloutsAndTheEchoedRequestGoBackToTrainStepUnchanged() async throws {
        let transport = ScriptedTransport([.answer(200, Self.answer), .answer(200, "{}")])
        let client = makeClient(transport)
        let request = RolloutsRequest(finetuneID: "f", numRollouts: 2,
                                      request: .point(object: "cat", imageURL: "data:image/png;base64,AAAA", settings: nil))
        let response = try await client.rollouts(request)
        #expect(response.rewards == [0.75, 0])
        #expect(response.rollouts.first?.output == .point([Point(x: 0.5, y: 0.25)]))
        #expect(response.rollouts.last?.output == .point([]))

        let group = TrainGroup(request: response.request, rollouts: response.rollouts.map(\.raw), rewards: [0.75, 0])
        _ = try await client.trainStep(finetuneID: "f", groups: [group], lr: 0.002)
        let sent = try #require(transport.requests.last).body
        #expect(sent.contains(#"{"skill":"point","object":"cat","image_url":"data:image/png;base64,AAAA","_echo":{"z":1}}"#))
        #expect(sent.contains(#""metadata":{"seq":9007199254740993,"note":"ünï \u2713 🚀","deep":{"a":[1,{"b":null}]}}"#))
        #expect(sent.contains(#""seq":-9223372036854775808"#))

        // The body is valid JSON whose groups mirror what came in.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
        let groups = try #require(object["groups"] as? [[String: Any]])
        #expect((groups.first?["rollouts"] as? [Any])?.count == 2)
        #expect(object["finetune_id"] as? String == "f")
        #expect(object["lr"] as? Double == 0.002)
    }

    @Test func rolloutsAnswersThatDoNotFitAreRefused() throws {
        let bad = [
            #"{"rollouts":[{}]}"#,
            #"{"request":{},"rollouts":[]}"#,
            #"{"request":{},"rollouts":[{}],"rewards":[1,2]}"#,
            #"{"request":{},"rollouts":[1]}"#,
            #"{"request":{},"rollouts":[{}],"rewards":["x"]}"#,
        ]
        for body in bad {
            #expect(throws: APIError.self, "\(body)") {
                try MoondreamClient.parseRollouts(Array(body.utf8), skill: .detect, endpoint: "e")
            }
        }
        let ok = try MoondreamClient.parseRollouts(Array(#"{"request":{},"rollouts":[{"output":{"objects":"?"}}],"rewards":null}"#.utf8),
                                                   skill: .detect, endpoint: "e")
        #expect(ok.rewards == nil)
        #expect(ok.rollouts.first?.output == nil)
    }

    @Test func nonFiniteRewardsAndMismatchedGroupsAreNeverSent() async throws {
        let transport = ScriptedTransport([.answer(200, "{}")])
        let raw = try RawJSON(validating: "{}")
        for group in [TrainGroup(request: raw, rollouts: [raw], rewards: [.nan]),
                      TrainGroup(request: raw, rollouts: [raw, raw], rewards: [1])] {
            await #expect(throws: APIError.self) {
                try await makeClient(transport).trainStep(finetuneID: "f", groups: [group], lr: nil)
            }
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func paginationWalksEveryPageAndStopsOnARepeatedCursor() async throws {
        let transport = ScriptedTransport([
            .answer(200, #"{"finetunes":[{"finetune_id":"a","name":"a","rank":8}],"next_cursor":"c1","has_more":true}"#),
            .answer(200, #"{"finetunes":[{"finetune_id":"b","name":"b","rank":8}],"next_cursor":"c2","has_more":true}"#),
            .answer(200, #"{"finetunes":[{"finetune_id":"c","name":"c","rank":8}],"next_cursor":null,"has_more":false}"#),
        ])
        let all = try await makeClient(transport).allFinetunes(pageSize: 1).collect()
        #expect(all.map(\.finetuneID) == ["a", "b", "c"])
        #expect(transport.requests.map(\.url).last == "http://127.0.0.1:9/v1/tuning/finetunes?limit=1&cursor=c2")

        let looping = ScriptedTransport([
            .answer(200, #"{"checkpoints":[{"checkpoint_id":"x","finetune_id":"f","step":1}],"next_cursor":"same","has_more":true}"#),
            .answer(200, #"{"checkpoints":[{"checkpoint_id":"y","finetune_id":"f","step":2}],"next_cursor":"same","has_more":true}"#),
        ])
        let checkpoints = try await makeClient(looping).allCheckpoints(finetuneID: "f").collect()
        #expect(checkpoints.map(\.step) == [1, 2])
    }
}
