/// The skill-specific `request` of `POST /tuning/rollouts`.
///
/// `spatialRefs` (live service): regions the question or object refers to, each `[x, y]` or
/// `[x1, y1, x2, y2]` in normalized coordinates; sent only when present.
public enum SkillRequest: Encodable, Sendable, Hashable {
    case query(question: String, imageURL: String?, reasoning: Bool?, settings: SamplingSettings?, spatialRefs: [[Double]]? = nil)
    case point(object: String, imageURL: String, settings: SamplingSettings?, spatialRefs: [[Double]]? = nil)
    case detect(object: String, imageURL: String, settings: SamplingSettings?)

    public var skill: Skill {
        switch self {
        case .query: .query
        case .point: .point
        case .detect: .detect
        }
    }

    enum CodingKeys: String, CodingKey {
        case skill, question, object, imageURL = "image_url", reasoning, settings, spatialRefs = "spatial_refs"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(skill, forKey: .skill)
        switch self {
        case let .query(question, imageURL, reasoning, settings, spatialRefs):
            try container.encode(question, forKey: .question)
            try container.encodeIfPresent(imageURL, forKey: .imageURL)
            try container.encodeIfPresent(reasoning, forKey: .reasoning)
            try container.encodeIfPresent(settings, forKey: .settings)
            try container.encodeIfPresent(spatialRefs, forKey: .spatialRefs)
        case let .point(object, imageURL, settings, spatialRefs):
            try container.encode(object, forKey: .object)
            try container.encode(imageURL, forKey: .imageURL)
            try container.encodeIfPresent(settings, forKey: .settings)
            try container.encodeIfPresent(spatialRefs, forKey: .spatialRefs)
        case let .detect(object, imageURL, settings):
            try container.encode(object, forKey: .object)
            try container.encode(imageURL, forKey: .imageURL)
            try container.encodeIfPresent(settings, forKey: .settings)
        }
    }

    /// The same request without sampling settings: the `request` of an SFT group.
    public var withoutSettings: SkillRequest {
        switch self {
        case let .query(question, imageURL, reasoning, _, spatialRefs):
            .query(question: question, imageURL: imageURL, reasoning: reasoning, settings: nil, spatialRefs: spatialRefs)
        case let .point(object, imageURL, _, spatialRefs): .point(object: object, imageURL: imageURL, settings: nil, spatialRefs: spatialRefs)
        case let .detect(object, imageURL, _): .detect(object: object, imageURL: imageURL, settings: nil)
        }
    }
}

/// Ground truth sent with a rollouts request, for the server to compute rewards (point and detect).
public enum GroundTruth: Codable, Sendable, Hashable {
    case points([Point])
    case boxes([Box])

    enum CodingKeys: String, CodingKey { case points, boxes }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let points = try container.decodeIfPresent([Point].self, forKey: .points) {
            self = .points(points)
        } else {
            self = .boxes(try container.decode([Box].self, forKey: .boxes))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .points(let points): try container.encode(points, forKey: .points)
        case .boxes(let boxes): try container.encode(boxes, forKey: .boxes)
        }
    }
}

/// `POST /tuning/rollouts`.
public struct RolloutsRequest: Encodable, Sendable {
    public var finetuneID: String
    public var numRollouts: Int
    public var request: SkillRequest
    public var groundTruth: GroundTruth?

    public init(finetuneID: String, numRollouts: Int, request: SkillRequest, groundTruth: GroundTruth? = nil) {
        self.finetuneID = finetuneID
        self.numRollouts = numRollouts
        self.request = request
        self.groundTruth = groundTruth
    }

    enum CodingKeys: String, CodingKey {
        case finetuneID = "finetune_id", numRollouts = "num_rollouts", request, groundTruth = "ground_truth"
    }
}

/// The decoded `output` of a rollout: the only part of a rollout moontune reads.
public enum RolloutOutput: Sendable, Hashable {
    case query(answer: String, reasoning: String?)
    case point([Point])
    case detect([Box])

    /// Decodes an output by the rollout's skill. Nil if it is missing or has the wrong shape.
    public static func decode(_ raw: RawJSON, skill: Skill) -> RolloutOutput? {
        switch skill {
        case .query:
            // The reference sends `reasoning` as a string; the live service as an object whose
            // `text` is the reasoning (with its grounding beside it, which moontune does not read).
            struct Reasoning: Decodable {
                var text: String?
                init(from decoder: any Decoder) throws {
                    if let text = try? decoder.singleValueContainer().decode(String.self) {
                        self.text = text
                        return
                    }
                    enum Keys: String, CodingKey { case text }
                    text = try? decoder.container(keyedBy: Keys.self).decodeIfPresent(String.self, forKey: .text)
                }
            }
            struct Query: Decodable { var answer: String; var reasoning: Reasoning? }
            return (try? raw.decode(Query.self)).map { .query(answer: $0.answer, reasoning: $0.reasoning?.text) }
        case .point:
            struct Points: Decodable { var points: [Point] }
            return (try? raw.decode(Points.self)).map { .point($0.points) }
        case .detect:
            struct Objects: Decodable { var objects: [Box] }
            return (try? raw.decode(Objects.self)).map { .detect($0.objects) }
        }
    }
}

/// One rollout as the server sent it. `raw` goes back to `train_step` untouched; `output` is the
/// decoded view used for rewards and status.
public struct Rollout: Sendable, Hashable {
    public let raw: RawJSON
    public let output: RolloutOutput?

    /// Wraps a rollout object, decoding its `output` by `skill` (the rollout's own `skill` field
    /// wins when present).
    public init(raw: RawJSON, skill: Skill) {
        self.raw = raw
        let ownSkill = raw["skill"].flatMap { $0.plainStringValue.flatMap(Skill.init(rawValue:)) ?? (try? $0.decode(Skill.self)) } ?? skill
        self.output = raw["output"].flatMap { RolloutOutput.decodeDirectly($0, skill: ownSkill) ?? RolloutOutput.decode($0, skill: ownSkill) }
    }
}

extension Rollout {
    /// Why generation ended, when the server says (live service): `length` when max_tokens cut
    /// the answer, `stop` otherwise.
    public var finishReason: String? { raw["finish_reason"].flatMap { try? $0.decode(String.self) } }

    /// The length of the answer: its `answer_tokens` when the server sends them, else the words
    /// of a query's answer; nil when neither is known.
    public var answerLength: Int? {
        if let tokens = raw["answer_tokens"]?.arrayElements() { return tokens.count }
        if case .query(let answer, _) = output {
            return answer.split(whereSeparator: { $0.isWhitespace }).count
        }
        return nil
    }
}

/// The answer of `POST /tuning/rollouts`.
public struct RolloutsResponse: Sendable {
    /// The echoed request, exactly as sent back.
    public let request: RawJSON
    public let rollouts: [Rollout]
    /// Server-computed rewards when ground truth was given, else nil.
    public let rewards: [Double]?
}

/// One group of `POST /tuning/train_step`.
///
/// An RL group is the echoed request, its rollouts unchanged, and one reward per rollout in the
/// same order; it is sent with `"mode": "rl"`, which both the reference and the live service
/// accept. An SFT group (live service) is a request and the target output the model should learn.
public enum TrainGroup: Sendable {
    case rl(request: RawJSON, rollouts: [RawJSON], rewards: [Double])
    case sft(request: RawJSON, target: RawJSON)

    public init(request: RawJSON, rollouts: [RawJSON], rewards: [Double]) {
        self = .rl(request: request, rollouts: rollouts, rewards: rewards)
    }

    public var isSFT: Bool {
        if case .sft = self { return true }
        return false
    }
}

/// Whatever `train_step` answered. The reference says `{}`; the live service answers `step` (the
/// finetune's step after this call), `applied`, and optional numbers (`kl`, `router_kl`,
/// `grad_norm`, `sft_loss`, `reward_mean`, `reward_std`). Every member is kept; the known ones are
/// offered typed, and a member of the wrong type reads as absent (the step was applied whatever
/// its statistics say).
public struct TrainStepResult: Sendable {
    /// The response object as sent (an empty object when the body was empty or unreadable).
    public let raw: RawJSON

    public init(raw: RawJSON) {
        self.raw = raw
    }

    /// The server's step after this call, when it says.
    public var step: Int? {
        guard let value = raw["step"], let step = try? value.decode(Int.self), step >= 0 else { return nil }
        return step
    }

    /// Whether the server advanced; nil when it does not say (the reference), which means it did:
    /// a 2xx answer from the reference is an applied step.
    public var applied: Bool? { raw["applied"].flatMap { try? $0.decode(Bool.self) } }

    /// Every finite numeric member but `step`, for metrics.
    public var numbers: [String: Double] {
        var result: [String: Double] = [:]
        for member in raw.objectMembers() ?? [] where member.key != "step" {
            if let value = try? member.value.decode(Double.self), value.isFinite {
                result[member.key] = value
            }
        }
        return result
    }
}

/// A finetune of the organization. Only `finetune_id` is required: the name and the rank are
/// shown to people but nothing is decided on them, so an answer without them still reads.
public struct Finetune: Codable, Sendable, Hashable {
    public var finetuneID: String
    public var name: String
    /// 0 when the server did not say.
    public var rank: Int
    public var createdAtMs: Int64?
    public var updatedAtMs: Int64?

    public init(finetuneID: String, name: String, rank: Int, createdAtMs: Int64? = nil, updatedAtMs: Int64? = nil) {
        self.finetuneID = finetuneID
        self.name = name
        self.rank = rank
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case finetuneID = "finetune_id", name, rank, createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        finetuneID = try container.decode(String.self, forKey: .finetuneID)
        name = (try? container.decodeIfPresent(String.self, forKey: .name)) ?? ""
        rank = (try? container.decodeIfPresent(Int.self, forKey: .rank)) ?? 0
        createdAtMs = try? container.decodeIfPresent(Int64.self, forKey: .createdAtMs)
        updatedAtMs = try? container.decodeIfPresent(Int64.self, forKey: .updatedAtMs)
    }
}

/// A finetune object as `GET /finetunes/:id` sends it: plain (the reference) or wrapped in
/// `{"finetune": {...}}` (the live service; the SDK reads `answer.get("finetune", answer)`).
struct FinetuneAnswer: Decodable {
    var finetune: Finetune

    enum CodingKeys: String, CodingKey { case finetune }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.finetune) {
            finetune = try container.decode(Finetune.self, forKey: .finetune)
        } else {
            finetune = try Finetune(from: decoder)
        }
    }
}

/// A saved checkpoint of a finetune. `checkpoint_id` and `step` are required (the step is what
/// reconciliation reads); the rest is optional.
public struct Checkpoint: Codable, Sendable, Hashable, StepNumbered {
    public var checkpointID: String
    /// Empty when the server did not say (the caller knows which finetune it asked about).
    public var finetuneID: String
    public var step: Int
    public var createdAtMs: Int64?
    public var updatedAtMs: Int64?
    /// When the server will delete it (live service); nil when unknown or never.
    public var expiresAtMs: Int64?

    public init(checkpointID: String, finetuneID: String, step: Int, createdAtMs: Int64? = nil, updatedAtMs: Int64? = nil,
                expiresAtMs: Int64? = nil) {
        self.checkpointID = checkpointID
        self.finetuneID = finetuneID
        self.step = step
        self.createdAtMs = createdAtMs
        self.updatedAtMs = updatedAtMs
        self.expiresAtMs = expiresAtMs
    }

    enum CodingKeys: String, CodingKey {
        case checkpointID = "checkpoint_id", finetuneID = "finetune_id", step
        case createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms", expiresAtMs = "expires_at_ms"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        checkpointID = try container.decode(String.self, forKey: .checkpointID)
        step = try container.decode(Int.self, forKey: .step)
        finetuneID = (try? container.decodeIfPresent(String.self, forKey: .finetuneID)) ?? ""
        createdAtMs = try? container.decodeIfPresent(Int64.self, forKey: .createdAtMs)
        updatedAtMs = try? container.decodeIfPresent(Int64.self, forKey: .updatedAtMs)
        expiresAtMs = try? container.decodeIfPresent(Int64.self, forKey: .expiresAtMs)
    }
}

/// One page of a cursor-paginated listing.
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    public var nextCursor: String?
    public var hasMore: Bool
}

/// The inference model string of a saved checkpoint.
public func inferenceModel(finetuneID: String, step: Int) -> String {
    "moondream3-preview/\(finetuneID)@\(step)"
}
