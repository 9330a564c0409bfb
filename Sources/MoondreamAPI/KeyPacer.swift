import Synchronization

/// The pace of one API key for one process (`run`): each attempt leaves no sooner than its
/// `RatePace` allows, and tells it what came back (issue 22). `serve` keeps its paces in its
/// `SharedBudget` instead, one per key, so that every job on the key shares it.
///
/// A request reserves the next slot and sleeps until it; when the pace was cut or held while it
/// slept (a 429 came), it reserves again, so no request leaves during a hold, and the ones held
/// leave one interval apart after it.
public final class KeyPacer: RequestBudget {
    private let state: Mutex<RatePace>
    let environment: RetryEnvironment

    /// - Parameter ceiling: `api.max_requests_per_s`, or nil to start unpaced.
    public init(ceiling: Double?, tuning: RatePace.Tuning = RatePace.Tuning(), environment: RetryEnvironment = .live) {
        state = Mutex(RatePace(ceiling: ceiling, tuning: tuning))
        self.environment = environment
    }

    /// The pace as it stands.
    public var pace: RatePace { state.withLock { $0 } }

    public func acquire() async throws {
        let asked = environment.now()
        while true {
            try Task.checkCancellation()
            let (departure, generation) = state.withLock { pace in
                let departure = pace.earliestDeparture(now: environment.now())
                pace.depart(at: departure, askedAt: asked)
                return (departure, pace.generation)
            }
            let wait = departure - environment.now()
            if wait > .zero { try await environment.sleep(wait) }
            // A 429 while this request slept: its slot was reserved at a pace no longer in force.
            if state.withLock({ $0.generation == generation }) { return }
        }
    }

    public func release(_ outcome: RequestBudgetOutcome) {
        let now = environment.now()
        state.withLock { $0.record(status: outcome.status, retryAfter: outcome.retryAfter, hint: outcome.rateLimit, now: now) }
    }
}
