/// Sampling settings of a skill request. Absent fields take the server's defaults.
public struct SamplingSettings: Codable, Sendable, Hashable {
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var maxObjects: Int?

    public init(temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil, maxObjects: Int? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.maxObjects = maxObjects
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topP = "top_p", maxTokens = "max_tokens", maxObjects = "max_objects"
    }
}

/// The skill-specific `request` of `POST /tuning/rollouts`.
public enum SkillRequest: Encodable, Sendable, Hashable {
    case query(question: String, imageURL: String?, reasoning: Bool?, settings: SamplingSettings?)
    case point(object: String, imageURL: String, settings: SamplingSettings?)
    case detect(object: String, imageURL: String, settings: SamplingSettings?)

    public var skill: Skill {
        switch self {
        case .query: .query
        case .point: .point
        case .detect: .detect
        }
    }

    enum CodingKeys: String, CodingKey {
        case skill, question, object, imageURL = "image_url", reasoning, settings
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(skill, forKey: .skill)
        switch self {
        case let .query(question, imageURL, reasoning, settings):
            try container.encode(question, forKey: .question)
            try container.encodeIfPresent(imageURL, forKey: .imageURL)
            try container.encodeIfPresent(reasoning, forKey: .reasoning)
            try container.encodeIfPresent(settings, forKey: .settings)
        case let .point(object, imageURL, settings), let .detect(object, imageURL, settings):
            try container.encode(object, forKey: .object)
            try container.encode(imageURL, forKey: .imageURL)
            try container.encodeIfPresent(settings, forKey: .settings)
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
            struct Query: Decodable { var answer: String; var reasoning: String? }
            return (try? raw.decode(Query.self)).map { .query(answer: $0.answer, reasoning: $0.reasoning) }
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

/// The answer of `POST /tuning/rollouts`.
public struct RolloutsResponse: Sendable {
    /// The echoed request, exactly as sent back.
    public let request: RawJSON
    public let rollouts: [Rollout]
    /// Server-computed rewards when ground truth was given, else nil.
    public let rewards: [Double]?
}

/// One group of `POST /tuning/train_step`: the echoed request, its rollouts unchanged, and one
/// reward per rollout in the same order.
public struct TrainGroup: Sendable {
    public var request: RawJSON
    public var rollouts: [RawJSON]
    public var rewards: [Double]

    public init(request: RawJSON, rollouts: [RawJSON], rewards: [Double]) {
        self.request = request
        self.rollouts = rollouts
        self.rewards = rewards
    }
}

/// Whatever `train_step` answered. The reference says `{}`; some servers add statistics such as
/// `step`, `kl` or `grad_norm`. Every member is kept; known numeric ones are offered typed.
public struct TrainStepResult: Sendable {
    /// The response object as sent (an empty object when the body was empty).
    public let raw: RawJSON

    /// The server's step after this one, when it says.
    public var step: Int? { raw["step"].flatMap { try? $0.decode(Int.self) } }

    /// Every numeric member, for metrics.
    public var numbers: [String: Double] {
        var result: [String: Double] = [:]
        for member in raw.objectMembers() ?? [] {
            if let value = try? member.value.decode(Double.self), value.isFinite {
                result[member.key] = value
            }
        }
        return result
    }
}

/// A finetune of the organization.
public struct Finetune: Codable, Sendable, Hashable {
    public var finetuneID: String
    public var name: String
    public var rank: Int
    public var createdAtMs: Int64?
    public var updatedAtMs: Int64?

    enum CodingKeys: String, CodingKey {
        case finetuneID = "finetune_id", name, rank, createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms"
    }
}

/// A saved checkpoint of a finetune.
public struct Checkpoint: Codable, Sendable, Hashable {
    public var checkpointID: String
    public var finetuneID: String
    public var step: Int
    public var createdAtMs: Int64?
    public var updatedAtMs: Int64?

    enum CodingKeys: String, CodingKey {
        case checkpointID = "checkpoint_id", finetuneID = "finetune_id", step
        case createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms"
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
