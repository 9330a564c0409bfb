import MoontuneJSON
/// One policy sample as the model would emit it: cut to `max_tokens`, with the token and
/// geometry fields the live service adds to each rollout.
///
/// Token counts: query text costs one token per whitespace-separated word (reasoning first,
/// then the answer); a point costs 2 tokens (x, y), a detected box 4 (centre and size). When
/// the budget runs out the output is cut there and `finish_reason` is `length`, else `stop`.
package struct Generation: Sendable {
    package var output: PolicyOutput
    /// Detect only: the slot of each box kept (cut with the boxes).
    package var slots: [Int]
    /// The reasoning text (query with `reasoning: true`), possibly cut.
    package var reasoning: String?
    /// Reasoning grounding entries: one per spatial reference, spanning "the image" in the text.
    package var grounding: [JSONValue]
    package var finishReason: String
    package var answerTokens: [Int]
    package var thinkingTokens: [Int]
    package var hasAnswerSeparator: Bool
    package var coords: [JSONValue]
    package var sizes: [JSONValue]

    package static func make(_ call: SkillCall, sample: PolicySample) -> Generation {
        let budget = max(1, call.settings.maxTokens)
        var generation = Generation(output: sample.output, slots: sample.slots, reasoning: nil, grounding: [], finishReason: "stop",
                                    answerTokens: [], thinkingTokens: [], hasAnswerSeparator: false, coords: [], sizes: [])
        switch sample.output {
        case .answer(let text):
            var left = budget
            if let thinking = RolloutCodec.reasoning(for: call, word: sample.word) {
                let words = Self.words(thinking)
                let kept = Array(words.prefix(left))
                generation.reasoning = kept.count == words.count ? thinking : kept.joined(separator: " ")
                generation.thinkingTokens = kept.map(Self.tokenID)
                left -= kept.count
                if kept.count < words.count { generation.finishReason = "length" }
                generation.hasAnswerSeparator = kept.count == words.count
                generation.grounding = Self.grounding(generation.reasoning ?? "", refs: call.spatialRefs)
            }
            let words = Self.words(text)
            let kept = generation.finishReason == "length" ? [] : Array(words.prefix(left))
            if kept.count < words.count { generation.finishReason = "length" }
            generation.output = .answer(kept.count == words.count ? text : kept.joined(separator: " "))
            generation.answerTokens = kept.map(Self.tokenID)
        case .points(let points):
            let kept = Array(points.prefix(budget / 2))
            if kept.count < points.count { generation.finishReason = "length" }
            generation.output = .points(kept)
            generation.answerTokens = kept.flatMap { [Self.quantized($0.x), Self.quantized($0.y)] }
            generation.coords = kept.map { .list([.canonicalDouble($0.x), .canonicalDouble($0.y)]) }
        case .boxes(let boxes):
            let kept = Array(boxes.prefix(budget / 4))
            if kept.count < boxes.count { generation.finishReason = "length" }
            generation.output = .boxes(kept)
            generation.slots = Array(sample.slots.prefix(kept.count))
            for box in kept {
                let cx = round6((box.xMin + box.xMax) / 2), cy = round6((box.yMin + box.yMax) / 2)
                let width = round6(box.xMax - box.xMin), height = round6(box.yMax - box.yMin)
                generation.answerTokens += [Self.quantized(cx), Self.quantized(cy), Self.quantized(width), Self.quantized(height)]
                generation.coords.append(.list([.canonicalDouble(cx), .canonicalDouble(cy)]))
                generation.sizes.append(.list([.canonicalDouble(width), .canonicalDouble(height)]))
            }
        }
        return generation
    }

    /// The live service's members of a rollout beside `skill`, `output` and our `metadata`.
    package var liveMembers: [(String, JSONValue)] {
        [("finish_reason", .string(finishReason)),
         ("answer_tokens", .list(answerTokens.map(JSONValue.int))),
         ("thinking_tokens", .list(thinkingTokens.map(JSONValue.int))),
         ("has_answer_separator", .bool(hasAnswerSeparator)),
         ("coords", .list(coords)), ("sizes", .list(sizes))]
    }

    /// The reasoning as the live service sends it, `{"text", "grounding"}`, or the reference's string.
    package func reasoningJSON(live: Bool) -> JSONValue {
        guard let reasoning else { return .null }
        guard live else { return .string(reasoning) }
        return .members([("text", .string(reasoning)), ("grounding", .list(grounding))])
    }

    package static func words(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
    }

    package static func tokenID(_ word: String) -> Int { Int(FNV1a.hash(word) % 50_257) }

    /// A coordinate as one of 1024 bins, as a coordinate tokenizer would.
    package static func quantized(_ value: Double) -> Int { Int((clamp01(value) * 1023).rounded()) }

    package static func grounding(_ text: String, refs: [[Double]]) -> [JSONValue] {
        guard !refs.isEmpty, let range = text.range(of: "the image") else { return [] }
        let start = text.distance(from: text.startIndex, to: range.lowerBound)
        let end = text.distance(from: text.startIndex, to: range.upperBound)
        return refs.map { ref in
            let x = ref.count == 4 ? (ref[0] + ref[2]) / 2 : ref[0], y = ref.count == 4 ? (ref[1] + ref[3]) / 2 : ref[1]
            return .members([("start_idx", .int(start)), ("end_idx", .int(end)),
                            ("points", .list([.list([.canonicalDouble(round6(x)), .canonicalDouble(round6(y))])]))])
        }
    }
}

package func round6(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }
