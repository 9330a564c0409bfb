import MoontuneJSON
import Foundation

/// One of `reward.graders`: a named scorer whose score (in [0, 1] for the built-in kinds and the
/// model judge) counts `weight` times in a rollout's reward.
public struct GraderConfig: Sendable, Equatable {
    /// Unique within the job: letters, digits, `_`, `-`. Names the export column `reward_<name>`.
    public var name: String
    public var weight: Double
    public var kind: Kind

    public init(name: String, weight: Double, kind: Kind) {
        self.name = name
        self.weight = weight
        self.kind = kind
    }

    public enum Kind: Sendable, Equatable {
        /// The skill's reward as `reward.source`, `reward.detect` and `reward.query` define it.
        case builtin
        /// Query answers against the accepted answers, the best of them.
        case textSimilarity(SimilarityMetric)
        /// A judge behind an OpenAI-compatible chat completions endpoint.
        case model(ModelGraderConfig)
        /// An external reward program, as `reward.command`.
        case command([String], timeoutSeconds: Double)
    }

    /// The `type` key's value.
    public var typeName: String {
        switch kind {
        case .builtin: "builtin"
        case .textSimilarity: "text_similarity"
        case .model: "model"
        case .command: "command"
        }
    }

    /// The model grader's settings, if this is one.
    public var model: ModelGraderConfig? {
        if case .model(let model) = kind { return model }
        return nil
    }

    public static let types = ["builtin", "text_similarity", "model", "command"]
}

/// `text_similarity`'s `metric` (docs/rewards.md defines each).
public enum SimilarityMetric: String, Sendable, Equatable, CaseIterable {
    case tokenF1 = "token_f1"
    case rougeL = "rouge_l"
    case charRatio = "char_ratio"
}

/// A `model` grader: where the judge is and how it is asked. The key is never part of it, only
/// the name of the variable that holds it.
public struct ModelGraderConfig: Sendable, Equatable {
    /// Without a trailing slash; the call goes to `{baseURL}/chat/completions`.
    public var baseURL: String
    public var model: String
    /// The variable holding the judge's key; nil: no `Authorization` header.
    public var apiKeyEnv: String?
    /// With `{question}`, `{object}`, `{answer}`, `{reference}`, `{skill}` to fill in.
    public var prompt: String
    /// Attach the example's image as a data-URL `image_url` part.
    public var image: Bool = false
    /// The most judge calls in flight at once.
    public var concurrency: Int = 8
    /// The deadline of one judge call.
    public var timeoutSeconds: Double = 60
    /// The judge's sampling temperature, when set.
    public var temperature: Double?
    /// The judge's `max_tokens`, when set.
    public var maxTokens: Int?

    public init(baseURL: String, model: String, apiKeyEnv: String? = nil, prompt: String) {
        self.baseURL = baseURL
        self.model = model
        self.apiKeyEnv = apiKeyEnv
        self.prompt = prompt
    }

    /// The placeholders a prompt may hold.
    public static let placeholders = ["question", "object", "answer", "reference", "skill"]

    /// The judge's key from `environment`; nil when no variable is named. The error names the
    /// variable, never a value.
    public func apiKey(environment: [String: String], grader: String) throws(ConfigError) -> String? {
        guard let apiKeyEnv else { return nil }
        guard let key = environment[apiKeyEnv]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
            throw ConfigError(Problem(file: "environment", field: apiKeyEnv,
                                      message: "no key for grader \"\(grader)\": set the environment variable \(apiKeyEnv) "
                                          + "(its api_key_env names it)"))
        }
        return key
    }
}

extension GraderConfig {
    /// The grader in the config file's shape, for the job's snapshot and fingerprint. Holds no
    /// secret: only the key's variable name.
    package var snapshot: JSONValue {
        var members: [(String, JSONValue?)] = [("name", .string(name)), ("type", .string(typeName)), ("weight", .double(weight))]
        switch kind {
        case .builtin: break
        case .textSimilarity(let metric): members.append(("metric", .string(metric.rawValue)))
        case .model(let model):
            members += [("base_url", .string(model.baseURL)), ("model", .string(model.model)),
                        ("api_key_env", model.apiKeyEnv.map(JSONValue.string)), ("prompt", .string(model.prompt)),
                        ("image", .bool(model.image)), ("concurrency", .int(model.concurrency)),
                        ("timeout_s", .double(model.timeoutSeconds)), ("temperature", model.temperature.map(JSONValue.double)),
                        ("max_tokens", model.maxTokens.map(JSONValue.int))]
        case .command(let command, let timeout):
            members += [("command", .list(command.map(JSONValue.string))), ("timeout_s", .double(timeout))]
        }
        return .object(members.compactMap { key, value in value.map { JSONMember(key: key, node: JSONNode($0)) } })
    }
}

extension RewardConfig {
    /// Issue 24: every model grader's key is set, before anything is recorded or called. The
    /// error names the variable, never a value.
    public func checkGraderKeys(environment: [String: String]) throws(ConfigError) {
        for grader in graders {
            if let model = grader.model { _ = try model.apiKey(environment: environment, grader: grader.name) }
        }
    }
}
