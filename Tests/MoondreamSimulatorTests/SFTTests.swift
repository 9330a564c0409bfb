import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

func sftGroup(_ request: JSONValue, target: JSONValue) -> JSONValue {
    .members([("mode", .string("sft")), ("request", request), ("target", target)])
}

/// The mean reward of `count` fresh rollouts (server rewards, or 1 per answer matching `answer`).
func meanReward(_ sim: Harness, _ id: String, _ request: JSONValue, truth: JSONValue?, answer: String? = nil, count: Int = 16) async throws -> Double {
    let issued = try await sim.rollouts(id, request: request, count: count, truth: truth)
    guard issued.status == 200 else { throw HarnessError("rollouts answered \(issued.status): \(issued.errorMessage)") }
    let rewards: [Double]
    if let answer {
        rewards = (issued.json?["rollouts"]?.arrayValue ?? []).map {
            QueryPolicy.word(fromAnswer: $0["output"]?["answer"]?.stringValue ?? "") == QueryPolicy.word(fromAnswer: answer) ? 1 : 0
        }
    } else {
        rewards = issued.json?["rewards"]?.arrayValue?.compactMap(\.doubleValue) ?? []
    }
    return rewards.reduce(0, +) / Double(max(1, rewards.count))
}

@Suite("SFT groups: validated, and they teach the policy their target")
struct SFTTests {
    static let point = #"{"skill": "point", "object": "cup", "image_url": "IMG"}"#
    static let detect = #"{"skill": "detect", "object": "car", "image_url": "IMG"}"#
    static let query = #"{"skill": "query", "question": "What color is the car?"}"#

    @Test("a malformed SFT group is a 400 naming the field", arguments: [
        (#"{"mode": "sft", "request": \#(point)}"#, "groups[0].target is required"),
        (#"{"mode": "sft", "request": \#(point), "target": {"points": []}}"#, "groups[0].target.points must not be empty"),
        (#"{"mode": "sft", "request": \#(point), "target": {"points": [{"x": 1.5, "y": 0.2}]}}"#, "groups[0].target.points[0].x"),
        (#"{"mode": "sft", "request": \#(point), "target": {"points": [{"x": 0.5, "y": 0.2}], "boxes": []}}"#, "groups[0].target"),
        (#"{"mode": "sft", "request": \#(point), "target": [1]}"#, "groups[0].target must be an object"),
        (#"{"mode": "sft", "request": \#(detect), "target": {"points": [{"x": 0.5, "y": 0.2}]}}"#, "groups[0].target.points"),
        (#"{"mode": "sft", "request": \#(detect), "target": {"boxes": [{"x_min": 0.5, "y_min": 0.2, "x_max": 0.4, "y_max": 0.6}]}}"#, "groups[0].target.boxes[0]"),
        (#"{"mode": "sft", "request": \#(query), "target": {}}"#, "groups[0].target.answer is required"),
        (#"{"mode": "sft", "request": \#(query), "target": {"answer": "red", "why": 1}}"#, "groups[0].target.why"),
        (#"{"mode": "sft", "request": \#(query), "target": {"answer": "red", "reasoning": 3}}"#, "groups[0].target.reasoning"),
        (#"{"mode": "sft", "request": \#(query), "target": {"answer": "red", "reasoning": {"grounding": []}}}"#, "groups[0].target.reasoning.text"),
        (#"{"mode": "sft", "request": \#(point), "target": {"points": [{"x": 0.5, "y": 0.2}]}, "rollouts": []}"#, "groups[0].rollouts"),
        (#"{"mode": "dpo", "request": \#(point), "target": {"points": [{"x": 0.5, "y": 0.2}]}}"#, "groups[0].mode"),
        (#"{"mode": "sft", "target": {"points": [{"x": 0.5, "y": 0.2}]}}"#, "groups[0].request is required"),
    ])
    func malformed(group: String, mentions: String) async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("sft-bad")
            let body = #"{"finetune_id": "\#(id)", "groups": [\#(group.replacingOccurrences(of: "IMG", with: imageURL("s")))]}"#
            let answer = try await sim.send(.POST, "/v1/tuning/train_step", body: body)
            #expect(answer.status == 400 && answer.errorMessage.contains(mentions), "\(answer.status) \(answer.errorMessage)")
            #expect(await sim.simulator.stats().trainStepsApplied == 0)
        }
    }

    @Test("the third group's bad target is named groups[2].target.points in a mixed step")
    func namedInMixedStep() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("sft-mixed-bad")
            let issued = try await sim.rollouts(id, request: pointRequest("cup", image: "m"), count: 2, truth: pointTruth(0.5, 0.5))
            let rl = JSONValue.members([("mode", .string("rl")), ("request", issued.json?["request"] ?? .null),
                                       ("rollouts", issued.json?["rollouts"] ?? .null), ("rewards", .list([.int(1), .int(0)]))])
            let good = sftGroup(pointRequest("cup", image: "m"), target: pointTruth(0.5, 0.5))
            let bad = sftGroup(pointRequest("cup", image: "m"), target: .members([("points", .string("x"))]))
            let answer = try await sim.trainGroups(id, [rl, good, bad])
            #expect(answer.status == 400 && answer.errorMessage.contains("groups[2].target.points"), "\(answer.errorMessage)")
        }
    }

    @Test("point SFT raises the reward and its sft_loss falls")
    func pointSFT() async throws {
        try await withSimulator(SimulatorOptions(seed: 4)) { sim in
            let id = try await sim.createFinetune("sft-point")
            let request = pointRequest("button", image: "sp"), truth = pointTruth(0.15, 0.8)
            let before = try await meanReward(sim, id, request, truth: truth)
            var losses: [Double] = []
            for step in 1...5 {
                let answer = try await sim.trainGroups(id, [sftGroup(request, target: truth)])
                #expect(answer.status == 200, "\(answer.errorMessage)")
                #expect(answer.json?["step"]?.intValue == step && answer.json?["reward_mean"]?.isNull == true)
                losses.append(try #require(answer.json?["sft_loss"]?.doubleValue))
            }
            let after = try await meanReward(sim, id, request, truth: truth)
            #expect(after > before + 0.3, "reward \(before) → \(after)")
            #expect(zip(losses, losses.dropFirst()).allSatisfy { $0 > $1 }, "sft_loss \(losses)")
        }
    }

    @Test("detect SFT raises the reward")
    func detectSFT() async throws {
        try await withSimulator(SimulatorOptions(seed: 4)) { sim in
            let id = try await sim.createFinetune("sft-detect")
            let request = detectRequest("car", image: "sd"), truth = boxesTruth([(0.1, 0.1, 0.4, 0.45), (0.55, 0.5, 0.9, 0.9)])
            let before = try await meanReward(sim, id, request, truth: truth)
            for _ in 1...6 {
                let answer = try await sim.trainGroups(id, [sftGroup(request, target: truth)])
                #expect(answer.status == 200, "\(answer.errorMessage)")
            }
            let after = try await meanReward(sim, id, request, truth: truth)
            #expect(after > before + 0.3, "reward \(before) → \(after)")
        }
    }

    @Test("query SFT teaches its answer, even one outside the vocabulary")
    func querySFT() async throws {
        try await withSimulator(SimulatorOptions(seed: 4)) { sim in
            let id = try await sim.createFinetune("sft-query")
            for target in ["purple", "The car is teal."] {
                let request = queryRequest("What color is the car?", image: "sq-\(target)")
                let before = try await meanReward(sim, id, request, truth: nil, answer: target)
                let group = sftGroup(request, target: .members([("answer", .string(target)),
                                                               ("reasoning", .members([("text", .string("It looks so.")), ("grounding", .list([]))]))]))
                for _ in 1...6 { #expect(try await sim.trainGroups(id, [group]).status == 200) }
                let after = try await meanReward(sim, id, request, truth: nil, answer: target)
                #expect(after > before + 0.5, "\(target): reward \(before) → \(after)")
            }
        }
    }

    @Test("RL and SFT groups mix in one step: sft_loss and reward_mean both reported")
    func mixedStep() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("sft-mixed")
            let issued = try await sim.rollouts(id, request: pointRequest("cup", image: "mx"), count: 4, truth: pointTruth(0.5, 0.5))
            let rewards = issued.json?["rewards"] ?? .null
            let rl = JSONValue.members([("mode", .string("rl")), ("request", issued.json?["request"] ?? .null),
                                       ("rollouts", issued.json?["rollouts"] ?? .null), ("rewards", rewards)])
            let sft = sftGroup(detectRequest("car", image: "mx"), target: boxesTruth([(0.2, 0.2, 0.5, 0.5)]))
            let answer = try await sim.trainGroups(id, [rl, sft])
            #expect(answer.status == 200, "\(answer.errorMessage)")
            #expect(answer.json?["sft_loss"]?.doubleValue != nil && answer.json?["reward_mean"]?.doubleValue != nil)
            #expect(answer.json?["step"]?.intValue == 1)
        }
    }
}
