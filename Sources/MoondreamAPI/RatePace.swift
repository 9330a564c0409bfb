/// The pace of one API key: how many requests a second may go, learnt from what the server
/// says (issue 22). A pure value: every decision is a function of its inputs and the instant it
/// is given, so it is tested with made-up instants and never sleeps.
///
/// - It starts unpaced, or at `ceiling` (`api.max_requests_per_s`) when the user states it.
/// - A 429 (or a 503 with Retry-After) cuts the pace to `decrease` × what it was. An unpaced
///   key's first cut is `firstCut` × what it sent per second, settled, once the first answer
///   after its hold is in, on what its burst got accepted. Later 429s of the same event (until
///   the hold ends) only lengthen the hold.
/// - Retry-After holds every request on the key until it has passed.
/// - While no 429 comes, each request that had to wait for its slot adds `increase` requests a
///   second: at R a second about 1 % of R a second, a slow climb that finds room again. Within 3 %
///   of the pace at which the last 429 came, the climb is ten times slower: the pace stays just
///   under the limit it found, and a limiter that says nothing but 429 is met far less often.
/// - Departures are spaced by 1/rate, so after a hold the waiters leave one interval apart
///   rather than all at once.
/// - A server's `RateLimit`/`X-RateLimit-*` headers set the rate outright, and a window with
///   nothing remaining holds until its reset.
public struct RatePace: Sendable, Equatable {
    public typealias Instant = ContinuousClock.Instant

    public struct Tuning: Sendable, Equatable {
        /// A paced key's pace is multiplied by this on a 429.
        public var decrease = 0.9
        /// An unpaced key's first 429 sets the pace to this × what it sent, then got accepted.
        public var firstCut = 0.95
        /// Requests a second added per request that waited for its slot.
        public var increase = 0.01
        /// Near the pace at which the last 429 came (within `plateau` of it, either side), the
        /// climb is this fraction of `increase`: the pace stays just under the limit it found for
        /// longer, so the sawtooth hits the limit less often, and climbs at full speed again past it.
        public var nearLimitIncrease = 0.1
        public var plateau = 0.03
        /// The slowest pace the 429s alone can bring: Moondream's smallest plan allows 2 requests
        /// a second. (A stated `api.max_requests_per_s` below it is kept.)
        public var minimumRate = 2.0
        public init() {}
    }

    public let tuning: Tuning
    /// The user's stated limit: the pace never goes above it.
    public private(set) var ceiling: Double?
    /// Requests a second in force; nil: unpaced.
    public private(set) var rate: Double?
    /// No request leaves before this (a Retry-After or an empty rate-limit window).
    public private(set) var heldUntil: Instant?
    /// The earliest departure of the next request.
    private(set) var nextSlot: Instant?
    /// Requests sent since `windowStart` (the last 429 event), and answered without a 429.
    private(set) var sentInWindow = 0
    private(set) var acceptedInWindow = 0
    private(set) var windowStart: Instant?
    private(set) var lastDeparture: Instant?
    /// A cut begun by a 429 and settled by the first answer after its hold.
    private(set) var pendingCut: PendingCut?
    /// While unpaced: the answers of the last second, and the most there ever were in one.
    private(set) var lastSecondAccepted: [Instant] = []
    private(set) var peakAcceptedPerSecond = 0
    /// The server's stated rate, from its headers: the pace does not climb above it.
    public private(set) var serverRate: Double?
    /// 429s seen, and requests answered otherwise.
    public private(set) var rateLimited = 0
    public private(set) var accepted = 0
    /// The pace (or, unpaced, the accepted rate) at which the last 429 came: the limit as found.
    public private(set) var limitFound: Double?
    /// Bumped whenever the pace is cut or held: a departure reserved before must be reserved again.
    public private(set) var generation: UInt64 = 0

    public init(ceiling: Double? = nil, tuning: Tuning = Tuning()) {
        self.tuning = tuning
        self.ceiling = ceiling.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        self.rate = self.ceiling
    }

    /// Lowers (or sets) the user's stated limit, for example when a job on the key states one.
    public mutating func limit(to ceiling: Double?) {
        guard let ceiling, ceiling > 0, ceiling.isFinite else { return }
        self.ceiling = min(self.ceiling ?? ceiling, ceiling)
        rate = min(rate ?? ceiling, self.ceiling!)
    }

    /// The interval between departures at the pace in force; nil when unpaced.
    public var interval: Duration? {
        rate.map { .nanoseconds(Int64((1e9 / $0).rounded())) }
    }

    /// When a request that asks at `now` may leave: never before a hold ends or the next slot.
    public func earliestDeparture(now: Instant) -> Instant {
        var departure = now
        if let heldUntil, heldUntil > departure { departure = heldUntil }
        if rate != nil, let nextSlot, nextSlot > departure { departure = nextSlot }
        return departure
    }

    /// Records a departure at `at` (which `earliestDeparture` allowed), asked for at `askedAt`: the
    /// next slot moves one interval on, and a request that had to wait lets the pace climb.
    public mutating func depart(at departure: Instant, askedAt: Instant) {
        if windowStart == nil { windowStart = departure }
        sentInWindow += 1
        lastDeparture = departure
        if let interval { nextSlot = departure + interval }
        if departure > askedAt, pendingCut == nil, let current = rate {
            let near = limitFound.map { abs(current - $0) <= tuning.plateau * $0 } ?? false
            rate = min(current + tuning.increase * (near ? tuning.nearLimitIncrease : 1), cap)
        }
    }

    /// What an answer says: a 429 (or a 503 with Retry-After) cuts the pace and holds the key;
    /// rate-limit headers set it; anything else counts as accepted.
    public mutating func record(status: Int?, retryAfter: Duration?, hint: RateLimitHint?, now: Instant) {
        let limited = status == 429 || (status == 503 && retryAfter != nil)
        if status == 429 { rateLimited += 1 }
        // The first answer after a hold settles the cut: every answer to what was sent before
        // the 429 has come back by then.
        if let pending = pendingCut, !limited, heldUntil.map({ $0 <= now }) ?? true {
            settle(pending)
        }
        if let stated = hint?.requestsPerSecond {
            serverRate = stated
            rate = min(rate ?? stated, stated, ceiling ?? stated)
        }
        if limited {
            let newEvent = heldUntil.map { $0 <= now } ?? true
            if newEvent { beginCut(now: now) }
            if let retryAfter { hold(until: now + retryAfter) }
            else if newEvent, let interval { hold(until: now + interval) }
            return
        }
        guard status != nil else { return }
        accepted += 1
        acceptedInWindow += 1
        if rate == nil || pendingCut != nil {
            lastSecondAccepted.removeAll { now - $0 >= .seconds(1) }
            lastSecondAccepted.append(now)
            peakAcceptedPerSecond = max(peakAcceptedPerSecond, lastSecondAccepted.count)
        }
        if let hint, hint.remaining == 0, let reset = hint.reset, reset > .zero { hold(until: now + reset) }
    }

    /// A 429 ends the window. A paced key's pace is multiplied by `decrease`: the pace is what
    /// was being sent while requests waited for it, and a 429 says it was too much. (Not
    /// the rate measured over the window: a job that spends most of it waiting on a train_step
    /// sends less than its pace, and cutting to that would compound into a crawl.) An unpaced
    /// key's first cut is `firstCut` × what it sent per second over at least a second, at once,
    /// then settled on what its burst got accepted (see `settle`).
    private mutating func beginCut(now: Instant) {
        if let pending = pendingCut { settle(pending) }
        let start = windowStart ?? now
        let before = rate
        let span = max(1, (now - start).inSeconds)
        if let before { limitFound = before }
        let cut = before.map { $0 * tuning.decrease } ?? Double(sentInWindow) / span * tuning.firstCut
        rate = min(max(tuning.minimumRate, cut), cap)
        pendingCut = before == nil ? PendingCut(span: span) : nil
        sentInWindow = 0
        if before != nil { acceptedInWindow = 0 }  // a pending cut still counts its burst's answers
        windowStart = now
        generation &+= 1
    }

    /// The first cut of an unpaced key, settled once the answers to its burst are in:
    /// `firstCut` × what was accepted per second (over the window, or in its busiest second).
    private mutating func settle(_ pending: PendingCut) {
        pendingCut = nil
        // The burst's accepted answers per second, or the busiest second before it: a key whose
        // first 429 came while it was not busy has shown it can do that much.
        let acceptedRate = max(Double(acceptedInWindow) / pending.span, Double(peakAcceptedPerSecond))
        acceptedInWindow = 0
        lastSecondAccepted = []
        limitFound = acceptedRate
        let settled = min(max(tuning.minimumRate, acceptedRate * tuning.firstCut), cap)
        if let current = rate, settled < current {
            generation &+= 1  // slots reserved at the provisional pace are reserved again
            if let lastDeparture, let next = nextSlot {
                nextSlot = max(next, lastDeparture + .nanoseconds(Int64((1e9 / settled).rounded())))
            }
        }
        rate = settled
    }

    struct PendingCut: Sendable, Equatable {
        var span: Double
    }

    private mutating func hold(until instant: Instant) {
        guard heldUntil.map({ instant > $0 }) ?? true else { return }
        heldUntil = instant
        // Departures reserved before are reserved again (the generation changed): the first
        // slot is the end of the hold, and the next ones follow one interval apart.
        nextSlot = instant
        generation &+= 1
    }

    private var cap: Double { min(ceiling ?? .infinity, serverRate ?? .infinity) }

    /// The hold in force at `now`, if any.
    public func held(at now: Instant) -> Instant? {
        heldUntil.flatMap { $0 > now ? $0 : nil }
    }
}
