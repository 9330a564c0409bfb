/// What happens to one `/v1` request, decided before it is validated or applied.
package enum FaultDecision: Sendable, Equatable {
    case none
    /// Close the connection without an answer.
    case drop
    /// Answer 500, 502 or 503.
    case serverError(status: Int)
    /// Answer 429 with Retry-After.
    case rateLimit
    /// Wait, then answer normally.
    case hang

    /// One decision from two uniform draws: `roll` picks the fault by stacking the rates in a
    /// fixed order, `pick` chooses among the 5xx statuses.
    package static func decide(_ options: FaultOptions, roll: Double, pick: Double) -> FaultDecision {
        var threshold = options.dropRate
        if roll < threshold { return .drop }
        threshold += options.serverErrorRate
        if roll < threshold {
            let statuses = [500, 502, 503]
            return .serverError(status: statuses[min(statuses.count - 1, Int(pick * Double(statuses.count)))])
        }
        threshold += options.rateLimitRate
        if roll < threshold { return .rateLimit }
        threshold += options.hangRate
        if roll < threshold { return .hang }
        return .none
    }
}

/// How an applied train_step is made ambiguous.
package enum AmbiguousOutcome: Sendable, Equatable {
    case badGateway
    case drop

    package static func decide(_ options: FaultOptions, roll: Double, pick: Double) -> AmbiguousOutcome? {
        guard roll < options.ambiguousTrainRate else { return nil }
        return pick < 0.5 ? .badGateway : .drop
    }
}
