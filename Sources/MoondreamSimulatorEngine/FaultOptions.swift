import MoontuneJSON
/// Latency and faults the simulator injects into `/v1` requests, each drawn from its seeded
/// random stream. Rates are fractions of requests (0–1).
///
/// JSON keys are snake_case (`rollout_latency_ms`, `server_error_rate`, ...); decoding accepts
/// any subset and keeps the defaults for the rest.
public struct FaultOptions: Sendable, Codable, Equatable {
    /// Added to each `/tuning/rollouts`.
    public var rolloutLatencyMs: Int = 0
    /// Added to each `/tuning/train_step`.
    public var trainLatencyMs: Int = 0
    /// Added to every other `/v1` endpoint.
    public var otherLatencyMs: Int = 0
    /// Fraction answered 500, 502 or 503 without being applied.
    public var serverErrorRate: Double = 0
    /// Fraction answered 429 with `Retry-After`, not applied.
    public var rateLimitRate: Double = 0
    /// The `Retry-After` of 429 answers, in seconds (also sent as `retry-after-ms`).
    public var retryAfterSeconds: Double = 1
    /// Fraction whose connection is closed with no answer, not applied.
    public var dropRate: Double = 0
    /// Fraction of train_steps that are applied and then answered 502 or dropped: the case a
    /// client cannot tell from a failure without asking.
    public var ambiguousTrainRate: Double = 0
    /// Fraction that wait `hangSeconds` before being answered normally.
    public var hangRate: Double = 0
    public var hangSeconds: Double = 30
    /// Fraction of valid train_steps answered `{"applied": false, ...}` with the step unchanged
    /// (live answers only; the reference's `{}` cannot say so, so reference mode never draws it).
    public var unappliedTrainRate: Double = 0
    /// Fraction of train_steps that take `slowTrainMs` after their body is read and are then
    /// applied, whether or not the client is still connected: the step a client gave up on that
    /// lands later.
    public var slowTrainRate: Double = 0
    public var slowTrainMs: Int = 0
    /// The finetune steps whose first train_step takes `slowTrainMs` and is then applied, whether
    /// or not the client is still connected: a late landing at a chosen step (the step the
    /// finetune reaches by it; a second sending of it, while the first is held, is not slow).
    public var slowTrainSteps: [Int] = []
    /// A token bucket per API key (`--rate-limit`): this many requests a second; nil: off. A
    /// request that finds it empty is answered 429 with a whole-second `Retry-After` and nothing
    /// else (unlike `rateLimitRate`, which draws 429s at random, whatever the load).
    public var rateLimitPerSecond: Double?
    /// The bucket's size (`--rate-burst`); nil: one second's worth.
    public var rateLimitBurst: Double?

    public init() {}

    package enum CodingKeys: String, CodingKey, CaseIterable {
        case rolloutLatencyMs = "rollout_latency_ms", trainLatencyMs = "train_latency_ms"
        case otherLatencyMs = "other_latency_ms", serverErrorRate = "server_error_rate"
        case rateLimitRate = "rate_limit_rate", retryAfterSeconds = "retry_after_seconds"
        case dropRate = "drop_rate", ambiguousTrainRate = "ambiguous_train_rate"
        case hangRate = "hang_rate", hangSeconds = "hang_seconds"
        case unappliedTrainRate = "unapplied_train_rate", slowTrainRate = "slow_train_rate", slowTrainMs = "slow_train_ms"
        case slowTrainSteps = "slow_train_steps"
        case rateLimitPerSecond = "rate_limit_per_s", rateLimitBurst = "rate_limit_burst"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var options = FaultOptions()
        options.rolloutLatencyMs = try container.decodeIfPresent(Int.self, forKey: .rolloutLatencyMs) ?? options.rolloutLatencyMs
        options.trainLatencyMs = try container.decodeIfPresent(Int.self, forKey: .trainLatencyMs) ?? options.trainLatencyMs
        options.otherLatencyMs = try container.decodeIfPresent(Int.self, forKey: .otherLatencyMs) ?? options.otherLatencyMs
        options.serverErrorRate = try container.decodeIfPresent(Double.self, forKey: .serverErrorRate) ?? options.serverErrorRate
        options.rateLimitRate = try container.decodeIfPresent(Double.self, forKey: .rateLimitRate) ?? options.rateLimitRate
        options.retryAfterSeconds = try container.decodeIfPresent(Double.self, forKey: .retryAfterSeconds) ?? options.retryAfterSeconds
        options.dropRate = try container.decodeIfPresent(Double.self, forKey: .dropRate) ?? options.dropRate
        options.ambiguousTrainRate = try container.decodeIfPresent(Double.self, forKey: .ambiguousTrainRate) ?? options.ambiguousTrainRate
        options.hangRate = try container.decodeIfPresent(Double.self, forKey: .hangRate) ?? options.hangRate
        options.hangSeconds = try container.decodeIfPresent(Double.self, forKey: .hangSeconds) ?? options.hangSeconds
        options.unappliedTrainRate = try container.decodeIfPresent(Double.self, forKey: .unappliedTrainRate) ?? options.unappliedTrainRate
        options.slowTrainRate = try container.decodeIfPresent(Double.self, forKey: .slowTrainRate) ?? options.slowTrainRate
        options.slowTrainMs = try container.decodeIfPresent(Int.self, forKey: .slowTrainMs) ?? options.slowTrainMs
        options.slowTrainSteps = try container.decodeIfPresent([Int].self, forKey: .slowTrainSteps) ?? options.slowTrainSteps
        options.rateLimitPerSecond = try container.decodeIfPresent(Double.self, forKey: .rateLimitPerSecond)
        options.rateLimitBurst = try container.decodeIfPresent(Double.self, forKey: .rateLimitBurst)
        self = options
    }

    /// What is wrong with these options, or nil: rates outside 0–1, negative durations.
    public var problem: String? {
        let rates: [(String, Double)] = [("server_error_rate", serverErrorRate), ("rate_limit_rate", rateLimitRate),
                                         ("drop_rate", dropRate), ("ambiguous_train_rate", ambiguousTrainRate),
                                         ("hang_rate", hangRate), ("unapplied_train_rate", unappliedTrainRate),
                                         ("slow_train_rate", slowTrainRate)]
        for (name, rate) in rates where !(0...1).contains(rate) {
            return "\(name) must be between 0 and 1, got \(rate)"
        }
        for (name, value) in [("rollout_latency_ms", rolloutLatencyMs), ("train_latency_ms", trainLatencyMs),
                              ("other_latency_ms", otherLatencyMs), ("slow_train_ms", slowTrainMs)] where value < 0 {
            return "\(name) must not be negative, got \(value)"
        }
        if !(retryAfterSeconds >= 0 && retryAfterSeconds.isFinite) { return "retry_after_seconds must be a non-negative number" }
        if !(hangSeconds >= 0 && hangSeconds.isFinite) { return "hang_seconds must be a non-negative number" }
        if let step = slowTrainSteps.first(where: { $0 < 1 }) { return "slow_train_steps must hold steps of 1 or more, got \(step)" }
        if let rate = rateLimitPerSecond, !(rate > 0 && rate.isFinite) { return "rate_limit_per_s must be a number > 0, got \(rate)" }
        if let burst = rateLimitBurst, !(burst >= 1 && burst.isFinite) { return "rate_limit_burst must be a number ≥ 1, got \(burst)" }
        return nil
    }

    /// These options with the members present in `patch` (a partial JSON object) replaced.
    package func merging(_ patch: JSONValue) throws(APIFailure) -> FaultOptions {
        let fields = try Fields(patch, path: "")
        try fields.rejectUnknown(Set(CodingKeys.allCases.map(\.rawValue)))
        var merged = self
        if let value = try fields.optionalInt("rollout_latency_ms") { merged.rolloutLatencyMs = value }
        if let value = try fields.optionalInt("train_latency_ms") { merged.trainLatencyMs = value }
        if let value = try fields.optionalInt("other_latency_ms") { merged.otherLatencyMs = value }
        if let value = try fields.optionalDouble("server_error_rate") { merged.serverErrorRate = value }
        if let value = try fields.optionalDouble("rate_limit_rate") { merged.rateLimitRate = value }
        if let value = try fields.optionalDouble("retry_after_seconds") { merged.retryAfterSeconds = value }
        if let value = try fields.optionalDouble("drop_rate") { merged.dropRate = value }
        if let value = try fields.optionalDouble("ambiguous_train_rate") { merged.ambiguousTrainRate = value }
        if let value = try fields.optionalDouble("hang_rate") { merged.hangRate = value }
        if let value = try fields.optionalDouble("hang_seconds") { merged.hangSeconds = value }
        if let value = try fields.optionalDouble("unapplied_train_rate") { merged.unappliedTrainRate = value }
        if let value = try fields.optionalDouble("slow_train_rate") { merged.slowTrainRate = value }
        if let value = try fields.optionalInt("slow_train_ms") { merged.slowTrainMs = value }
        if fields.has("slow_train_steps") {
            var steps: [Int] = []
            for item in try fields.array("slow_train_steps") {
                guard let step = item.intValue else { throw .badRequest("slow_train_steps must be a list of integers") }
                steps.append(step)
            }
            merged.slowTrainSteps = steps
        }
        if let value = try fields.optionalDouble("rate_limit_per_s") { merged.rateLimitPerSecond = value }
        if let value = try fields.optionalDouble("rate_limit_burst") { merged.rateLimitBurst = value }
        if let problem = merged.problem { throw .badRequest(problem) }
        return merged
    }
}
