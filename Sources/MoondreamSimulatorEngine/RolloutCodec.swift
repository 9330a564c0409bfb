import MoontuneJSON
/// Writes policy samples as rollout objects and reads verified rollouts back for learning.
package enum RolloutCodec {
    /// A fixed extra member added to echoed requests: unknown to clients, nested, with a null,
    /// so a client that rebuilds the request instead of passing it back is caught.
    package static let echoNested = JSONValue.members([("a", .list([.int(1), .members([("b", .null)])]))])

    /// The note in every rollout's metadata: non-ASCII text that must survive re-encoding.
    package static let note = "ünïcødé ✓ 🚀"

    /// The echoed request: the request as sent, plus an `_echo` member.
    package static func echo(_ request: JSONValue) -> JSONValue {
        let original = request.objectMembers.map { JSONValue.object($0.filter { $0.key != "_echo" }) } ?? request
        return original.setting("_echo", to: .members([("digest", .string(FNV1a.digest(of: original))), ("nested", echoNested)]))
    }

    /// Outputs are reported to six decimals, as a server serializing floats would.
    package static func rounded(_ output: PolicyOutput) -> PolicyOutput {
        switch output {
        case .points(let points): return .points(points.map { SimPoint(x: round6($0.x), y: round6($0.y)) })
        case .boxes(let boxes):
            return .boxes(boxes.map { SimBox(xMin: round6($0.xMin), yMin: round6($0.yMin), xMax: round6($0.xMax), yMax: round6($0.yMax)) })
        case .answer: return output
        }
    }

    /// `reasoning` is null, the reference's string or the live service's `{text, grounding}`.
    package static func outputJSON(_ output: PolicyOutput, reasoning: JSONValue) -> JSONValue {
        switch output {
        case .points(let points): .members([("points", .list(points.map(\.json)))])
        case .boxes(let boxes): .members([("objects", .list(boxes.map(\.json)))])
        case .answer(let text): .members([("answer", .string(text)), ("reasoning", reasoning)])
        }
    }

    package static func reasoning(for call: SkillCall, word: String?) -> String? {
        guard call.skill == .query, call.reasoning, let word else { return nil }
        return "The question asks: \(call.prompt) Looking at the image, the answer is \(word)."
    }

    /// Token ids a tokenizer might have produced for an output: stable, opaque, small integers.
    package static func tokens(for output: JSONValue) -> [JSONValue] {
        var hasher = FNV1a()
        hasher.combine(output.canonicalText)
        var random = SimRandom(seed: hasher.value)
        return (0..<(3 + Int(random.next() % 4))).map { _ in .uint(random.next() % 50_257) }
    }

    package static func metadata(rolloutID: String, policyStep: Int, seq: UInt64, sample: PolicySample,
                         output: JSONValue, requestDigest: String) -> JSONValue {
        var sampleInfo: [(String, JSONValue)] = []
        if sample.explored { sampleInfo.append(("explored", .bool(true))) }
        if !sample.slots.isEmpty { sampleInfo.append(("slots", .list(sample.slots.map(JSONValue.int)))) }
        return .members([
            ("rollout_id", .string(rolloutID)), ("policy_step", .int(policyStep)), ("seq", .uint(seq)),
            ("logprob", .canonicalDouble((sample.logprob * 10_000).rounded() / 10_000)), ("tokens", .list(tokens(for: output))),
            ("note", .string(note)), ("request_digest", .string(requestDigest)), ("sample", .members(sampleInfo)),
        ])
    }

    /// Reads what learning needs from a rollout already verified against the registry.
    package static func trained(_ rollout: JSONValue, skill: SimSkill) -> TrainedRollout? {
        guard let output = rollout["output"] else { return nil }
        let sample = rollout["metadata"]?["sample"]
        let explored = sample?["explored"]?.boolValue ?? false
        let slots = sample?["slots"]?.arrayValue?.compactMap(\.intValue) ?? []
        switch skill {
        case .point:
            guard let points = output["points"]?.arrayValue else { return nil }
            let parsed = points.compactMap { value -> SimPoint? in
                guard let x = value["x"]?.doubleValue, let y = value["y"]?.doubleValue else { return nil }
                return SimPoint(x: x, y: y)
            }
            return TrainedRollout(output: .points(parsed), explored: explored, slots: slots)
        case .detect:
            guard let objects = output["objects"]?.arrayValue else { return nil }
            let parsed = objects.compactMap { value -> SimBox? in
                guard let x0 = value["x_min"]?.doubleValue, let y0 = value["y_min"]?.doubleValue,
                      let x1 = value["x_max"]?.doubleValue, let y1 = value["y_max"]?.doubleValue else { return nil }
                return SimBox(xMin: x0, yMin: y0, xMax: x1, yMax: y1)
            }
            return TrainedRollout(output: .boxes(parsed), explored: explored, slots: slots)
        case .query:
            guard let answer = output["answer"]?.stringValue else { return nil }
            return TrainedRollout(output: .answer(answer), explored: explored, slots: slots)
        }
    }
}
