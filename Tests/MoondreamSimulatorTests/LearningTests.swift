import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

/// One training example of a small fixed set.
struct Example: Sendable {
    let request: JSONValue
    let truth: JSONValue?
    /// For query examples: the accepted answer word (moontune computes query rewards itself).
    let answer: String?
}

/// Trains `examples` for `steps` steps (4 rollouts each) and returns the mean reward per step.
func train(_ sim: Harness, _ finetuneID: String, _ examples: [Example], steps: Int) async throws -> [Double] {
    var means: [Double] = []
    for _ in 0..<steps {
        var groups: [(request: JSONValue, rollouts: [JSONValue], rewards: [Double])] = []
        for example in examples {
            let answer = try await sim.rollouts(finetuneID, request: example.request, count: 4, truth: example.truth)
            guard let echo = answer.json?["request"], let rollouts = answer.json?["rollouts"]?.arrayValue else {
                throw HarnessError("rollouts answered \(answer.status): \(answer.errorMessage)")
            }
            let rewards: [Double]
            if let expected = example.answer {
                rewards = rollouts.map { rollout in
                    QueryPolicy.word(fromAnswer: rollout["output"]?["answer"]?.stringValue ?? "") == expected ? 1 : 0
                }
            } else {
                rewards = answer.json?["rewards"]?.arrayValue?.compactMap(\.doubleValue) ?? []
            }
            groups.append((echo, rollouts, rewards))
        }
        means.append(groups.flatMap(\.rewards).reduce(0, +) / Double(groups.flatMap(\.rewards).count))
        let step = try await sim.trainStep(finetuneID, groups: groups)
        guard step.status == 200 else { throw HarnessError("train_step answered \(step.status): \(step.errorMessage)") }
    }
    return means
}

func mean(_ values: ArraySlice<Double>) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }

@Suite("Policies learn from train steps")
struct LearningTests {
    @Test("point rewards rise clearly over 30 steps")
    func pointLearns() async throws {
        let targets: [(Double, Double)] = [(0.2, 0.3), (0.75, 0.2), (0.6, 0.8), (0.3, 0.7), (0.85, 0.6), (0.45, 0.45)]
        let examples = targets.enumerated().map { index, target in
            Example(request: pointRequest("button \(index)", image: "p\(index)"), truth: pointTruth(target.0, target.1), answer: nil)
        }
        try await withSimulator(SimulatorOptions(seed: 11)) { sim in
            let means = try await train(sim, try await sim.createFinetune("learn-point"), examples, steps: 30)
            let early = mean(means[0..<5]), late = mean(means[25..<30])
            #expect(late > early + 0.3, "point reward \(early) → \(late): \(means)")
        }
    }

    @Test("detect rewards rise clearly over 30 steps")
    func detectLearns() async throws {
        let targets: [[(Double, Double, Double, Double)]] = [
            [(0.1, 0.1, 0.4, 0.45)], [(0.5, 0.55, 0.85, 0.9)], [(0.3, 0.2, 0.6, 0.5)],
            [(0.55, 0.1, 0.9, 0.4)], [(0.15, 0.5, 0.45, 0.85)], [(0.35, 0.35, 0.7, 0.7)],
        ]
        let examples = targets.enumerated().map { index, boxes in
            Example(request: detectRequest("vehicle \(index)", image: "d\(index)"), truth: boxesTruth(boxes), answer: nil)
        }
        try await withSimulator(SimulatorOptions(seed: 5)) { sim in
            let means = try await train(sim, try await sim.createFinetune("learn-detect"), examples, steps: 30)
            let early = mean(means[0..<5]), late = mean(means[25..<30])
            #expect(late > early + 0.25, "detect reward \(early) → \(late): \(means)")
        }
    }

    @Test("query rewards rise clearly over 30 steps")
    func queryLearns() async throws {
        let cases: [(String, String)] = [("What color is the car?", "red"), ("What color is the door?", "green"),
                                         ("How many cups are there?", "3"), ("Is the light on?", "yes"),
                                         ("What shape is the sign?", "triangle"), ("What animal is this?", "dog")]
        let examples = cases.enumerated().map { index, item in
            Example(request: queryRequest(item.0, image: "q\(index)"), truth: nil, answer: item.1)
        }
        try await withSimulator(SimulatorOptions(seed: 3)) { sim in
            let means = try await train(sim, try await sim.createFinetune("learn-query"), examples, steps: 30)
            let early = mean(means[0..<5]), late = mean(means[25..<30])
            #expect(late > early + 0.3, "query reward \(early) → \(late): \(means)")
        }
    }
}

@Suite("Inference, determinism and checkpoints")
struct InferenceTests {
    func point(_ sim: Harness, model: String?) async throws -> Harness.Answer {
        var members: [(String, JSONValue)] = [("object", .string("cup")), ("image_url", .string(imageURL("a")))]
        if let model { members.append(("model", .string(model))) }
        return try await sim.post("/v1/point", .members(members))
    }

    @Test("inference with @step uses a saved checkpoint; unsaved or deleted steps are 404")
    func inferenceWithCheckpoints() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("infer")
            for _ in 0..<3 {
                #expect(try await sim.oneStep(id, request: pointRequest("cup", image: "a"), truth: pointTruth(0.9, 0.1)).status == 200)
            }
            #expect(try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([])).status == 200)
            let tuned = try await point(sim, model: "moondream3-preview/\(id)@3")
            #expect(tuned.status == 200 && tuned.json?["points"]?.arrayValue?.count == 1)
            #expect(tuned.json?["request_id"]?.stringValue != nil)
            #expect(try await point(sim, model: "moondream3-preview/\(id)@2").status == 404)
            #expect(try await point(sim, model: "moondream3-preview/01ARZ3NDEKTSV4RRFFQ69G5FAV@3").status == 404)
            let base = try await point(sim, model: nil)
            #expect(base.status == 200)
            #expect(try await point(sim, model: "moondream3-preview").json?["points"] == base.json?["points"])
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)/checkpoints/3").status == 200)
            #expect(try await point(sim, model: "moondream3-preview/\(id)@3").status == 404)
        }
    }

    @Test("temperature 0 and inference are deterministic")
    func deterministic() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("greedy")
            let answer = try await sim.rollouts(id, request: detectRequest("car", image: "a", temperature: 0), count: 5)
            let outputs = answer.json?["rollouts"]?.arrayValue?.compactMap { $0["output"] } ?? []
            #expect(outputs.count == 5 && Set(outputs.map { $0.serialized() }).count == 1)
            let first = try await point(sim, model: nil), second = try await point(sim, model: nil)
            #expect(first.json?["points"] == second.json?["points"])
            let query = try await sim.post("/v1/query", .members([("question", .string("What color is the car?"))]))
            let again = try await sim.post("/v1/query", .members([("question", .string("What color is the car?"))]))
            #expect(query.json?["answer"] == again.json?["answer"] && query.json?["answer"] != nil)
            let caption = try await sim.post("/v1/caption", .members([("image_url", .string(imageURL("a"))), ("length", .string("short"))]))
            #expect(caption.status == 200 && caption.json?["caption"]?.stringValue?.isEmpty == false)
        }
    }

    @Test("the same seed replays the same rollouts for a sequential client")
    func seededReplay() async throws {
        func outputs(seed: UInt64) async throws -> [String] {
            try await withSimulator(SimulatorOptions(seed: seed)) { sim in
                let id = try await sim.createFinetune("replay")
                var texts: [String] = []
                for request in [pointRequest("cup", image: "a"), detectRequest("car", image: "b"), queryRequest("Is it red?", image: "c")] {
                    let answer = try await sim.rollouts(id, request: request, count: 4)
                    texts += answer.json?["rollouts"]?.arrayValue?.compactMap { $0["output"]?.serialized() } ?? []
                }
                return texts
            }
        }
        let first = try await outputs(seed: 42), second = try await outputs(seed: 42), other = try await outputs(seed: 43)
        #expect(first.count == 12 && first == second)
        #expect(first != other)
    }

    @Test("restore rolls the policy and step back to a checkpoint and drops later ones")
    func restore() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("restore")
            var atTwo: JSONValue?
            for step in 1...4 {
                #expect(try await sim.oneStep(id, request: pointRequest("cup", image: "a"), truth: pointTruth(0.1, 0.9)).status == 200)
                if step % 2 == 0 { #expect(try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([])).status == 200) }
                if step == 2 { atTwo = try await point(sim, model: "moondream3-preview/\(id)@2").json?["points"] }
            }
            let restored = try await sim.send(.POST, "/_sim/finetunes/\(id)/restore", body: #"{"step": 2}"#, key: .some(nil))
            #expect(restored.status == 200)
            let summary = await sim.simulator.stats().finetunes.first
            #expect(summary?.step == 2 && summary?.checkpoints == [2])
            #expect(try await point(sim, model: "moondream3-preview/\(id)@4").status == 404)
            // The current policy is the step-2 snapshot: a temperature-0 rollout points where @2 does.
            let greedy = try await sim.rollouts(id, request: pointRequest("cup", image: "a", temperature: 0), count: 1)
            #expect(greedy.json?["rollouts"]?.arrayValue?.first?["output"]?["points"] == atTwo)
            #expect(try await sim.send(.POST, "/_sim/finetunes/\(id)/restore", body: #"{"step": 4}"#, key: .some(nil)).status == 404)
        }
    }
}
