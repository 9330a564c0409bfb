import MoontuneJSON
import Foundation
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

/// Rollouts for `request`, then one RL train_step on them; returns the rollouts' rewards and the
/// step's answer.
func rlStep(_ sim: Harness, _ id: String, _ request: JSONValue, truth: JSONValue, count: Int = 8) async throws -> (rewards: [Double], answer: Harness.Answer) {
    let issued = try await sim.rollouts(id, request: request, count: count, truth: truth)
    guard let echo = issued.json?["request"], let rollouts = issued.json?["rollouts"]?.arrayValue,
          let rewards = issued.json?["rewards"]?.arrayValue?.compactMap(\.doubleValue) else {
        throw HarnessError("rollouts answered \(issued.status): \(issued.errorMessage)")
    }
    let group = JSONValue.members([("mode", .string("rl")), ("request", echo), ("rollouts", .list(rollouts)),
                                  ("rewards", .list(rewards.map(JSONValue.canonicalDouble)))])
    return (rewards, try await sim.trainGroups(id, [group]))
}

extension Harness {
    /// A train_step with groups given as JSON (RL, SFT or mixed).
    func trainGroups(_ id: String, _ groups: [JSONValue], lr: Double? = nil) async throws -> Answer {
        var members: [(String, JSONValue)] = [("finetune_id", .string(id)), ("groups", .list(groups))]
        if let lr { members.append(("lr", .canonicalDouble(lr))) }
        return try await post("/v1/tuning/train_step", .members(members))
    }
}

@Suite("Live answers: train_step statistics, rollout fields, checkpoints, wrapped finetunes")
struct LiveAnswerTests {
    @Test("train_step answers step, applied and the learning's numbers; kl rises and grad_norm falls as a group converges")
    func trainStepReportsLearning() async throws {
        try await withSimulator(SimulatorOptions(seed: 11)) { sim in
            let id = try await sim.createFinetune("live-train")
            var kls: [Double] = [], gradNorms: [Double] = []
            for expected in 1...30 {
                let (rewards, answer) = try await rlStep(sim, id, pointRequest("button", image: "k"), truth: pointTruth(0.2, 0.3))
                let json = try #require(answer.json)
                #expect(answer.status == 200)
                #expect(json.objectMembers?.map(\.key) == ["step", "applied", "kl", "router_kl", "grad_norm", "sft_loss", "reward_mean", "reward_std"])
                #expect(json["step"]?.intValue == expected)
                #expect(json["applied"]?.boolValue == true)
                #expect(json["sft_loss"]?.isNull == true)
                let mean = rewards.reduce(0, +) / Double(rewards.count)
                #expect(abs((json["reward_mean"]?.doubleValue ?? -1) - mean) < 1e-5)
                #expect((json["reward_std"]?.doubleValue ?? -1) >= 0)
                #expect((json["router_kl"]?.doubleValue ?? -1) >= 0)
                kls.append(try #require(json["kl"]?.doubleValue))
                gradNorms.append(try #require(json["grad_norm"]?.doubleValue))
            }
            #expect(kls[29] > kls[0] && mean(kls[25..<30]) > mean(kls[0..<5]), "kl \(kls)")
            #expect(mean(gradNorms[25..<30]) < mean(gradNorms[0..<5]), "grad_norm \(gradNorms)")
            #expect(await sim.simulator.stats().finetunes.first?.step == 30)
        }
    }

    @Test("reference answers: train_step {}, no live rollout fields, no expires_at_ms, no metrics endpoint, SFT refused")
    func referenceMode() async throws {
        var options = SimulatorOptions(referenceAnswers: true)
        options.faults.unappliedTrainRate = 1  // never drawn in reference mode: `{}` cannot say "not applied"
        try await withSimulator(options) { sim in
            let id = try await sim.createFinetune("reference")
            let issued = try await sim.rollouts(id, request: .members([("skill", .string("query")), ("question", .string("What color?")),
                                                                     ("reasoning", .bool(true))]))
            let rollout = try #require(issued.json?["rollouts"]?.arrayValue?.first)
            #expect(rollout.objectMembers?.map(\.key) == ["skill", "output", "metadata"])
            #expect(rollout["output"]?["reasoning"]?.stringValue != nil)
            let (_, answer) = try await rlStep(sim, id, pointRequest("cup", image: "r"), truth: pointTruth(0.5, 0.5))
            #expect(answer.status == 200 && answer.json == .object([]))
            #expect(await sim.simulator.stats().trainStepsApplied == 1)
            let saved = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(saved.status == 200 && saved.json?["checkpoint"]?["expires_at_ms"] == nil)
            let metrics = try await sim.post("/v1/tuning/finetunes/\(id)/metrics",
                                             .members([("step", .int(1)), ("metrics", .members([("loss", .canonicalDouble(0.5))]))]))
            #expect(metrics.status == 404)
            let sft = try await sim.trainGroups(id, [sftGroup(pointRequest("cup", image: "r"), target: pointTruth(0.5, 0.5))])
            #expect(sft.status == 400 && sft.errorMessage.contains("groups[0].mode"), "\(sft.errorMessage)")
        }
    }

    @Test("--unapplied-train-rate answers applied false and leaves the step where it was")
    func unapplied() async throws {
        var options = SimulatorOptions()
        options.faults.unappliedTrainRate = 1
        try await withSimulator(options) { sim in
            let id = try await sim.createFinetune("unapplied")
            let (_, answer) = try await rlStep(sim, id, pointRequest("cup", image: "u"), truth: pointTruth(0.5, 0.5))
            #expect(answer.status == 200)
            #expect(answer.json?["applied"]?.boolValue == false && answer.json?["step"]?.intValue == 0)
            #expect(answer.json?["kl"]?.isNull == true)
            var stats = await sim.simulator.stats()
            #expect(stats.trainStepsApplied == 0 && stats.faultsInjected.unappliedTrainStep == 1)
            #expect(stats.finetunes.first?.step == 0)
            let patched = try await sim.send(.POST, "/_sim/faults", body: #"{"unapplied_train_rate": 0}"#, key: .some(nil))
            #expect(patched.status == 200)
            let (_, applied) = try await rlStep(sim, id, pointRequest("cup", image: "u"), truth: pointTruth(0.5, 0.5))
            #expect(applied.json?["applied"]?.boolValue == true && applied.json?["step"]?.intValue == 1)
            stats = await sim.simulator.stats()
            #expect(stats.trainStepsApplied == 1 && stats.doubleApplications == 0)
        }
    }

    @Test("rollouts carry finish_reason, tokens and geometry; a query's reasoning is {text, grounding}")
    func rolloutFields() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("fields")
            let query = JSONValue.members([("skill", .string("query")), ("question", .string("What color is the car?")),
                                          ("reasoning", .bool(true)), ("spatial_refs", .list([.list([.canonicalDouble(0.2), .canonicalDouble(0.3)])]))])
            let issued = try await sim.rollouts(id, request: query, count: 2)
            #expect(issued.status == 200, "\(issued.errorMessage)")
            #expect(issued.json?["request"]?["spatial_refs"] == .list([.list([.canonicalDouble(0.2), .canonicalDouble(0.3)])]))
            let rollout = try #require(issued.json?["rollouts"]?.arrayValue?.first)
            #expect(rollout.objectMembers?.map(\.key) == ["skill", "finish_reason", "output", "answer_tokens", "thinking_tokens",
                                                        "has_answer_separator", "coords", "sizes", "metadata"])
            #expect(rollout["finish_reason"]?.stringValue == "stop")
            #expect(rollout["has_answer_separator"]?.boolValue == true)
            #expect((rollout["thinking_tokens"]?.arrayValue?.count ?? 0) > 5)
            #expect(rollout["answer_tokens"]?.arrayValue?.count == 1)
            let reasoning = try #require(rollout["output"]?["reasoning"])
            #expect(reasoning["text"]?.stringValue?.contains("What color is the car?") == true)
            #expect(reasoning["grounding"]?.arrayValue?.count == 1)

            let detect = try await sim.rollouts(id, request: detectRequest("car", image: "f", temperature: 0), count: 1)
            let box = try #require(detect.json?["rollouts"]?.arrayValue?.first)
            let objects = box["output"]?["objects"]?.arrayValue?.count ?? -1
            #expect(box["coords"]?.arrayValue?.count == objects && box["sizes"]?.arrayValue?.count == objects)
            #expect(box["answer_tokens"]?.arrayValue?.count == 4 * objects)
            // Rollouts with every live field still go back to train_step verified, and a live field
            // changed is caught like any other change.
            let (_, answer) = try await rlStep(sim, id, pointRequest("cup", image: "f"), truth: pointTruth(0.4, 0.4))
            #expect(answer.status == 200, "\(answer.errorMessage)")
            let rollouts = try #require(issued.json?["rollouts"]?.arrayValue)
            let edited = [rollouts[0].setting("finish_reason", to: .string("length"))] + rollouts.dropFirst()
            let group = JSONValue.members([("request", issued.json?["request"] ?? .null), ("rollouts", .list(edited)),
                                          ("rewards", .list([.int(1), .int(0)]))])
            let refused = try await sim.trainGroups(id, [group])
            #expect(refused.status == 400 && refused.errorMessage.contains("was changed"), "\(refused.errorMessage)")
        }
    }

    @Test("a small max_tokens cuts reasoning and answers with finish_reason length")
    func maxTokensCuts() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("cut")
            let query = JSONValue.members([("skill", .string("query")), ("question", .string("What color is the car?")),
                                          ("reasoning", .bool(true)), ("settings", .members([("max_tokens", .int(3))]))])
            let issued = try await sim.rollouts(id, request: query, count: 2)
            let rollout = try #require(issued.json?["rollouts"]?.arrayValue?.first)
            #expect(rollout["finish_reason"]?.stringValue == "length")
            #expect(rollout["has_answer_separator"]?.boolValue == false)
            #expect(rollout["thinking_tokens"]?.arrayValue?.count == 3)
            #expect(rollout["output"]?["reasoning"]?["text"]?.stringValue == "The question asks:")
            #expect(rollout["output"]?["answer"]?.stringValue == "")
            let point = JSONValue.members([("skill", .string("point")), ("object", .string("cup")), ("image_url", .string(imageURL("c"))),
                                          ("settings", .members([("max_tokens", .int(1))]))])
            let cut = try await sim.rollouts(id, request: point, count: 1)
            let pointRollout = try #require(cut.json?["rollouts"]?.arrayValue?.first)
            #expect(pointRollout["finish_reason"]?.stringValue == "length")
            #expect(pointRollout["output"]?["points"]?.arrayValue?.isEmpty == true)
            let plain = try await sim.rollouts(id, request: queryRequest("What color is the car?", image: "c"), count: 1)
            #expect(plain.json?["rollouts"]?.arrayValue?.first?["finish_reason"]?.stringValue == "stop")
        }
    }

    @Test("settings by skill: max_tokens on every skill, max_objects on detect and tolerated elsewhere")
    func settingsBySkill() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("settings")
            let settings = JSONValue.members([("temperature", .canonicalDouble(1)), ("top_p", .canonicalDouble(1)), ("max_tokens", .int(64)), ("max_objects", .int(2))])
            for request in [queryRequest("What?", image: "s"), pointRequest("a", image: "s"), detectRequest("a", image: "s")] {
                let answer = try await sim.rollouts(id, request: request.setting("settings", to: settings), count: 1)
                #expect(answer.status == 200, "\(answer.errorMessage)")
            }
        }
    }

    @Test("spatial_refs must be [x, y] or [x1, y1, x2, y2] within 0–1, on query and point only", arguments: [
        (#"[[1.5, 0.2]]"#, "point", "request.spatial_refs[0][0]"), (#"[[0.1, 0.2, 0.3]]"#, "query", "request.spatial_refs[0]"),
        (#"[0.1, 0.2]"#, "point", "request.spatial_refs[0]"), (#""near""#, "query", "request.spatial_refs"),
        (#"[[0.5, 0.5, 0.2, 0.9]]"#, "point", "request.spatial_refs[0]"), (#"[[0.1, 0.2]]"#, "detect", "request.spatial_refs"),
    ])
    func spatialRefsValidated(refs: String, skill: String, mentions: String) async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("refs")
            let prompt = skill == "query" ? #""question": "Where?""# : #""object": "cup", "image_url": "\#(imageURL("s"))""#
            let body = #"{"finetune_id": "\#(id)", "num_rollouts": 1, "request": {"skill": "\#(skill)", \#(prompt), "spatial_refs": \#(refs)}}"#
            let answer = try await sim.send(.POST, "/v1/tuning/rollouts", body: body)
            #expect(answer.status == 400 && answer.errorMessage.contains(mentions), "\(answer.errorMessage)")
        }
    }

    @Test("checkpoints carry expires_at_ms = created + ttl; a null one never expires; an expired one is gone")
    func expiringCheckpoints() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("ttl")
            _ = try await rlStep(sim, id, pointRequest("cup", image: "t"), truth: pointTruth(0.5, 0.5))
            let saved = try #require(try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([])).json?["checkpoint"])
            let created = try #require(saved["created_at_ms"]?.intValue)
            #expect(saved["expires_at_ms"]?.intValue == created + SimulatorOptions.defaultCheckpointTTLSeconds * 1000)
            let listed = try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints").json?["checkpoints"]?.arrayValue?.first
            #expect(listed?["expires_at_ms"]?.intValue == created + SimulatorOptions.defaultCheckpointTTLSeconds * 1000)
        }
        try await withSimulator(SimulatorOptions(checkpointTTLSeconds: nil)) { sim in
            let id = try await sim.createFinetune("ttl-none")
            _ = try await rlStep(sim, id, pointRequest("cup", image: "t"), truth: pointTruth(0.5, 0.5))
            let saved = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(saved.json?["checkpoint"]?["expires_at_ms"]?.isNull == true)
        }
        let clock = ManualSimulatorClock()
        try await withSimulator(SimulatorOptions(checkpointTTLSeconds: 1, clock: clock)) { sim in
            let id = try await sim.createFinetune("ttl-short")
            _ = try await rlStep(sim, id, pointRequest("cup", image: "t"), truth: pointTruth(0.5, 0.5))
            let saved = try await sim.post("/v1/tuning/finetunes/\(id)/checkpoints/save", .object([]))
            #expect(saved.json?["checkpoint"]?["expires_at_ms"]?.intValue == Int(clock.epochMilliseconds) + 1000)
            clock.advance(by: .milliseconds(999))
            #expect(try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints").json?["checkpoints"]?.arrayValue?.count == 1,
                    "a millisecond before its expiry it is still listed")
            clock.advance(by: .milliseconds(1))
            #expect(try await sim.get("/v1/tuning/finetunes/\(id)/checkpoints").json?["checkpoints"]?.arrayValue?.isEmpty == true)
            let model = "moondream3-preview/\(id)@1"
            let inference = try await sim.post("/v1/point", .members([("model", .string(model)), ("object", .string("cup")),
                                                                     ("image_url", .string(imageURL("t")))]))
            #expect(inference.status == 404)
        }
    }

    @Test("--wrap-finetune answers GET /finetunes/:id as {finetune: {...}}; plain by default")
    func wrappedFinetune() async throws {
        try await withSimulator(SimulatorOptions(wrapFinetune: true)) { sim in
            let id = try await sim.createFinetune("wrapped")
            let answer = try await sim.get("/v1/tuning/finetunes/\(id)")
            #expect(answer.json?["finetune"]?["finetune_id"]?.stringValue == id)
            #expect(answer.json?["finetune_id"] == nil)
        }
        try await withSimulator { sim in
            let id = try await sim.createFinetune("plain")
            #expect(try await sim.get("/v1/tuning/finetunes/\(id)").json?["finetune_id"]?.stringValue == id)
        }
    }

    @Test("inference answers a query's reasoning as {text, grounding} in live mode, a string in reference mode")
    func inferenceReasoning() async throws {
        let body = JSONValue.members([("question", .string("What color is it?")), ("reasoning", .bool(true)), ("stream", .bool(false))])
        try await withSimulator { sim in
            let answer = try await sim.post("/v1/query", body)
            #expect(answer.json?["reasoning"]?["text"]?.stringValue != nil, "\(answer.errorMessage)")
        }
        try await withSimulator(SimulatorOptions(referenceAnswers: true)) { sim in
            let answer = try await sim.post("/v1/query", body)
            #expect(answer.json?["reasoning"]?.stringValue != nil)
        }
    }
}
