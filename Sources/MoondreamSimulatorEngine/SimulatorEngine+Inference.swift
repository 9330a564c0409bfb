import MoontuneJSON
/// The inference endpoints: deterministic (temperature 0) answers from a named policy.
extension SimulatorEngine {
    package func infer(_ call: SkillCall, model: String?) throws(APIFailure) -> JSONValue {
        let policy = try policy(forModel: model)
        var sample = drawSample(call, policy: policy)
        sample.output = RolloutCodec.rounded(sample.output)
        let generation = Generation.make(call, sample: sample)
        var members: [(String, JSONValue)] = [("request_id", .string(makeID()))]
        switch generation.output {
        case .points(let points): members.append(("points", .list(points.map(\.json))))
        case .boxes(let boxes): members.append(("objects", .list(boxes.map(\.json))))
        case .answer(let text):
            members.append(("answer", .string(text)))
            if generation.reasoning != nil { members.append(("reasoning", generation.reasoningJSON(live: style.live))) }
        }
        if style.live { members.append(("finish_reason", .string(generation.finishReason))) }
        return .members(members)
    }

    /// Captions are not trained: a fixed description per image, worded by length.
    package func caption(imageURL: String, length: String, model: String?) throws(APIFailure) -> JSONValue {
        _ = try policy(forModel: model)
        var random = SimRandom(seed: seed, stream: FNV1a.hash("caption", imageURL))
        func pick(_ words: [String]) -> String { words[Int(random.next() % UInt64(words.count))] }
        let color = pick(QueryVocabulary.colors), noun = pick(QueryVocabulary.nouns), place = pick(["street", "room", "park", "kitchen", "field"])
        let text: String
        switch length {
        case "short": text = "A \(color) \(noun)."
        case "long": text = "A photo of a \(color) \(noun) in a \(place). The \(noun) is in the middle of the picture, with the \(place) around it in soft light."
        default: text = "A \(color) \(noun) in a \(place)."
        }
        return .members([("request_id", .string(makeID())), ("caption", .string(text))])
    }
}
