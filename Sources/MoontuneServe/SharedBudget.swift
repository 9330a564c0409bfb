import Foundation
import MoontuneStore
import MoondreamAPI
import MoontuneLoop
import Synchronization

/// The one request budget of `serve`: never more than `maxInFlight` requests in flight across
/// every job, and per API key one `RatePace`, shared by every job on the key: a 429 (or a 503
/// with Retry-After) seen by one job cuts the key's pace and holds every job on it (issue 22).
///
/// Permits go to waiting jobs by weighted fair share: of the requests that may start, the one
/// whose job has the fewest in flight for its weight goes first (FIFO among equals), so no
/// running job starves and a higher priority gets a larger share. Each job's own
/// `train.concurrency` is its client's limiter, taken before this budget.
///
/// Nothing polls. A waiter is granted by the event that frees it: a release, or, when its key is
/// held or paced, the instant its key's next departure is due. For that instant one waiter of the
/// key (the fairest) is handed the key's timer: it sleeps until then on the monotonic clock and
/// asks again, and if it is cancelled meanwhile the timer passes to another waiter. Every count
/// is changed in exactly one place: `grant` adds a permit, `release` (or `leave`, for the permits
/// of a job that ended without releasing) removes it.
public final class SharedBudget: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Key {
        var pace: RatePace
        var inFlight = 0
        /// The instant a waiter sleeps until on this key's behalf; nil: none sleeps.
        var timer: Instant?
    }

    struct Job {
        var keyID: String
        var weight: Double
        var inFlight = 0
    }

    /// What a waiter waits for: a permit for a job, asked at an instant.
    struct Need: Sendable {
        var job: Int64
        var askedAt: Instant
    }

    /// What a waiter is woken with: a permit, or the key's timer to sleep until.
    enum Admission: Sendable {
        case granted
        case wakeAt(Instant, key: String)
    }

    struct State {
        var inFlight = 0
        var peak = 0
        var keys: [String: Key] = [:]
        var jobs: [Int64: Job] = [:]
        var waiters = WaiterQueue<Admission, Need>()
    }

    public let maxInFlight: Int
    let tuning: RatePace.Tuning
    let environment: RetryEnvironment
    /// Told every attempt's outcome with its key id (metrics).
    let observe: @Sendable (String, RequestBudgetOutcome) -> Void
    private let state = Mutex(State())

    public init(maxInFlight: Int, tuning: RatePace.Tuning = RatePace.Tuning(), environment: RetryEnvironment = .live,
                observe: @escaping @Sendable (String, RequestBudgetOutcome) -> Void = { _, _ in }) {
        self.maxInFlight = max(1, maxInFlight)
        self.tuning = tuning
        self.environment = environment
        self.observe = observe
    }

    /// Requests in flight across every job right now, and the most ever.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    public var peak: Int { state.withLock { $0.peak } }

    /// A job's share of weight from its priority: 1 at priority 0, 1 + p above, 1 / (1 − p) below.
    public static func weight(priority: Int) -> Double {
        priority >= 0 ? 1 + Double(min(priority, 100)) : 1 / (1 + Double(min(-priority, 100)))
    }

    /// Admits a job on the key `keyID`; its client takes permits through the returned budget.
    public func join(job: Int64, keyID: String, priority: Int) -> JobBudget {
        state.withLock { state in
            if state.keys[keyID] == nil { state.keys[keyID] = Key(pace: RatePace(tuning: tuning)) }
            state.jobs[job] = Job(keyID: keyID, weight: Self.weight(priority: priority))
        }
        return JobBudget(shared: self, job: job)
    }

    /// A job on the key states the plan's limit (`api.max_requests_per_s`): the key's pace never
    /// goes above the lowest any of its jobs stated.
    func limit(job: Int64, requestsPerSecond: Double) {
        state.withLock { state in
            guard let keyID = state.jobs[job]?.keyID else { return }
            state.keys[keyID]?.pace.limit(to: requestsPerSecond)
        }
    }

    /// The job has ended: permits it still held are returned (its requests have all ended).
    public func leave(job: Int64) {
        let woken = state.withLock { state -> [(WaiterQueue<Admission, Need>.Waiter, Admission)] in
            guard let entry = state.jobs.removeValue(forKey: job) else { return [] }
            state.keys[entry.keyID]?.inFlight -= entry.inFlight
            state.inFlight -= entry.inFlight
            return dispatch(&state, now: environment.now())
        }
        for (waiter, admission) in woken { waiter.resume(returning: admission) }
    }

    func acquire(job: Int64) async throws {
        let askedAt = environment.now()
        while true {
            let id = state.withLock { $0.waiters.nextID() }
            let admission = try await WaiterQueue<Admission, Need>.suspend { continuation in
                let (mine, others) = state.withLock { state -> (Result<Admission, any Error>?, [(WaiterQueue<Admission, Need>.Waiter, Admission)]) in
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    // A job that never joined (or left) is not counted, nor held: nothing to wait for.
                    if state.jobs[job] == nil { return (.success(.granted), []) }
                    state.waiters.append(id: id, need: Need(job: job, askedAt: askedAt), continuation: continuation)
                    var woken = dispatch(&state, now: environment.now())
                    // This waiter's own admission is answered through its continuation like the others'.
                    if let index = woken.firstIndex(where: { $0.0.id == id }) {
                        let admission = woken.remove(at: index).1
                        return (.success(admission), woken)
                    }
                    return (nil, woken)
                }
                for (waiter, admission) in others { waiter.resume(returning: admission) }
                return mine
            } removeOnCancel: {
                state.withLock { $0.waiters.remove(id: id) }
            }
            switch admission {
            case .granted:
                return
            case .wakeAt(let instant, let keyID):
                // This task holds the key's timer: it sleeps until the key may send again, then
                // asks again. Cancelled, it hands the timer on.
                do {
                    let wait = instant - environment.now()
                    if wait > .zero { try await environment.sleep(wait) }
                    try Task.checkCancellation()
                } catch {
                    expireTimer(keyID: keyID)
                    throw error
                }
                expireTimer(keyID: keyID)
            }
        }
    }

    /// The key's timer has fired (or its sleeper gave up): another may be armed.
    private func expireTimer(keyID: String) {
        let woken = state.withLock { state -> [(WaiterQueue<Admission, Need>.Waiter, Admission)] in
            state.keys[keyID]?.timer = nil
            return dispatch(&state, now: environment.now())
        }
        for (waiter, admission) in woken { waiter.resume(returning: admission) }
    }

    func release(job: Int64, _ outcome: RequestBudgetOutcome) {
        let keyID = state.withLock { $0.jobs[job]?.keyID } ?? "unknown"
        observe(keyID, outcome)
        let woken = state.withLock { state -> [(WaiterQueue<Admission, Need>.Waiter, Admission)] in
            let now = environment.now()
            // A job that left has had its permits returned by `leave`, and a release without a
            // permit (a caller's bug) has nothing to return: no count moves twice.
            guard var entry = state.jobs[job], entry.inFlight > 0 else { return dispatch(&state, now: now) }
            state.inFlight -= 1
            entry.inFlight -= 1
            state.jobs[job] = entry
            state.keys[entry.keyID]?.inFlight -= 1
            state.keys[entry.keyID]?.pace.record(status: outcome.status, retryAfter: outcome.retryAfter,
                                                 hint: outcome.rateLimit, now: now)
            return dispatch(&state, now: now)
        }
        for (waiter, admission) in woken { waiter.resume(returning: admission) }
    }

    /// Grants every waiter that may start now, fairest first, and hands each paced or held key
    /// with waiters a timer. Called with the lock held; the caller resumes the waiters after it.
    private func dispatch(_ state: inout State, now: Instant) -> [(WaiterQueue<Admission, Need>.Waiter, Admission)] {
        var woken: [(WaiterQueue<Admission, Need>.Waiter, Admission)] = []
        while state.inFlight < maxInFlight {
            var best: (id: UInt64, share: Double)?
            for (id, need) in state.waiters.needs() {
                guard let job = state.jobs[need.job], let key = state.keys[job.keyID] else {
                    // A job that left while this waited: not counted, nothing to wait for.
                    if let waiter = state.waiters.remove(id: id) { woken.append((waiter, .granted)) }
                    continue
                }
                guard key.inFlight < maxInFlight, key.pace.earliestDeparture(now: now) <= now else { continue }
                let share = Double(job.inFlight + 1) / job.weight
                if best == nil || share < best!.share { best = (id, share) }
            }
            guard let chosen = best, let waiter = state.waiters.remove(id: chosen.id) else { break }
            grant(&state, waiter.need, now: now)
            woken.append((waiter, .granted))
        }
        // Keys that wait for their pace or a hold: the fairest waiter of each sleeps until then.
        var timers: [String: (id: UInt64, share: Double, at: Instant)] = [:]
        for (id, need) in state.waiters.needs() {
            guard let job = state.jobs[need.job], let key = state.keys[job.keyID], key.timer == nil else { continue }
            let due = key.pace.earliestDeparture(now: now)
            guard due > now else { continue }
            let share = Double(job.inFlight + 1) / job.weight
            if let current = timers[job.keyID], current.share <= share { continue }
            timers[job.keyID] = (id, share, due)
        }
        for (keyID, timer) in timers {
            guard let waiter = state.waiters.remove(id: timer.id) else { continue }
            state.keys[keyID]?.timer = timer.at
            woken.append((waiter, .wakeAt(timer.at, key: keyID)))
        }
        return woken
    }

    /// The one place a permit is counted.
    private func grant(_ state: inout State, _ need: Need, now: Instant) {
        state.inFlight += 1
        state.peak = max(state.peak, state.inFlight)
        guard var job = state.jobs[need.job] else { return }
        job.inFlight += 1
        state.jobs[need.job] = job
        state.keys[job.keyID]?.inFlight += 1
        state.keys[job.keyID]?.pace.depart(at: now, askedAt: need.askedAt)
    }

    /// Every key's budget and pace in force, as the store records it (and metrics and `status`
    /// show it).
    public func keys() -> [KeyBudgetRecord] {
        let wallMs = Int64((environment.date().timeIntervalSince1970 * 1000).rounded())
        return state.withLock { state in
            let now = environment.now()
            return state.keys.sorted { $0.key < $1.key }.map { id, key in
                let held = key.pace.held(at: now).map { instant -> Int64 in
                    let left = (instant - now).components
                    return wallMs + left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000
                }
                return KeyBudgetRecord(keyID: id, budget: maxInFlight, maxBudget: maxInFlight, inFlight: key.inFlight,
                                       heldUntilMs: held, rateLimited: key.pace.rateLimited, updatedAtMs: wallMs)
            }
        }
    }

    /// Every key's pace in force, as the store records it.
    public func paces() -> [KeyPaceRecord] {
        let wallMs = Int64((environment.date().timeIntervalSince1970 * 1000).rounded())
        return state.withLock { state in
            let now = environment.now()
            return state.keys.sorted { $0.key < $1.key }.map { id, key in
                KeyPaceRecord(pace: key.pace, keyID: id, source: "serve", now: now, wallMs: wallMs)
            }
        }
    }

    /// Requests in flight per job right now.
    public func inFlight(job: Int64) -> Int {
        state.withLock { $0.jobs[job]?.inFlight ?? 0 }
    }
}

/// One job's view of the shared budget: what its client's `ClientConfiguration.budget` holds.
public struct JobBudget: RequestBudget {
    let shared: SharedBudget
    public let job: Int64

    public func acquire() async throws { try await shared.acquire(job: job) }
    public func release(_ outcome: RequestBudgetOutcome) { shared.release(job: job, outcome) }
    public func limit(requestsPerSecond: Double) { shared.limit(job: job, requestsPerSecond: requestsPerSecond) }
}
