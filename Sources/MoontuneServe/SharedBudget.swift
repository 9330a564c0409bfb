import Foundation
import MoontuneStore
import MoondreamAPI
import Synchronization

/// The one request budget of `serve`: never more than `maxInFlight` requests in flight across
/// every job, and per API key a budget that 429s lower and successes raise again (AIMD), with a
/// Retry-After holding back every job on the key.
///
/// Permits go to waiting jobs by weighted fair share: of the requests that may start, the one
/// whose job has the fewest in flight for its weight goes first (FIFO among equals), so no
/// running job starves and a higher priority gets a larger share. Each job's own
/// `train.concurrency` is its client's limiter, taken before this budget.
public final class SharedBudget: Sendable {
    /// How a key's budget moves.
    public struct Tuning: Sendable {
        /// Multiplied into the budget on a 429 (at most once per `decreaseWindowMs`).
        public var decrease = 0.5
        /// Added to the budget per second's worth of successes: `1 / budget` per success.
        public var increase = 1.0
        /// 429s within this window of a decrease count as the same congestion.
        public var decreaseWindowMs: Int64 = 1000
        public init() {}
    }

    struct Key {
        var budget: Double
        var inFlight = 0
        var heldUntilMs: Int64?
        var lastDecreaseMs: Int64?
        var rateLimited = 0
        var allowed: Int { max(1, Int(budget.rounded(.down))) }
    }

    struct Job {
        var keyID: String
        var weight: Double
        var inFlight = 0
    }

    struct Waiter {
        var id: UInt64
        var job: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        var inFlight = 0
        var peak = 0
        var keys: [String: Key] = [:]
        var jobs: [Int64: Job] = [:]
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    public let maxInFlight: Int
    let tuning: Tuning
    let nowMs: @Sendable () -> Int64
    /// Told every attempt's outcome with its key id (metrics).
    let observe: @Sendable (String, RequestBudgetOutcome) -> Void
    private let state = Mutex(State())

    public init(maxInFlight: Int, tuning: Tuning = Tuning(), nowMs: @escaping @Sendable () -> Int64 = SharedBudget.wallClockMs,
                observe: @escaping @Sendable (String, RequestBudgetOutcome) -> Void = { _, _ in }) {
        self.maxInFlight = max(1, maxInFlight)
        self.tuning = tuning
        self.nowMs = nowMs
        self.observe = observe
    }

    public static let wallClockMs: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

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
            if state.keys[keyID] == nil { state.keys[keyID] = Key(budget: Double(maxInFlight)) }
            state.jobs[job] = Job(keyID: keyID, weight: Self.weight(priority: priority))
        }
        return JobBudget(shared: self, job: job)
    }

    /// The job has ended (its requests have all been released).
    public func leave(job: Int64) {
        state.withLock { state in
            guard let entry = state.jobs.removeValue(forKey: job), entry.inFlight > 0 else { return }
            state.keys[entry.keyID]?.inFlight -= entry.inFlight
            state.inFlight = max(0, state.inFlight - entry.inFlight)
        }
    }

    func acquire(job: Int64) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted: [Waiter] = state.withLock { state in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return []
                    }
                    state.waiters.append(Waiter(id: id, job: job, continuation: continuation))
                    return dispatch(&state, now: nowMs())
                }
                for waiter in granted { waiter.continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    func release(job: Int64, _ outcome: RequestBudgetOutcome) {
        let keyID = state.withLock { $0.jobs[job]?.keyID } ?? "unknown"
        observe(keyID, outcome)
        let granted: [Waiter] = state.withLock { state in
            let now = nowMs()
            state.inFlight = max(0, state.inFlight - 1)
            if var entry = state.jobs[job] {
                entry.inFlight = max(0, entry.inFlight - 1)
                state.jobs[job] = entry
                if var key = state.keys[entry.keyID] {
                    key.inFlight = max(0, key.inFlight - 1)
                    adjust(&key, outcome, now: now)
                    state.keys[entry.keyID] = key
                }
            }
            return dispatch(&state, now: now)
        }
        for waiter in granted { waiter.continuation.resume() }
    }

    /// Starts the requests a hold that has ended now lets through (called a few times a second).
    public func pump() {
        let granted = state.withLock { state in dispatch(&state, now: nowMs()) }
        for waiter in granted { waiter.continuation.resume() }
    }

    /// AIMD: a 429 halves the budget (once per window of congestion) and holds the key for its
    /// Retry-After; a success adds 1/budget, so the budget grows by about one per round trip.
    private func adjust(_ key: inout Key, _ outcome: RequestBudgetOutcome, now: Int64) {
        guard let status = outcome.status else { return }
        if status == 429 {
            key.rateLimited += 1
            if let after = outcome.retryAfter {
                let until = now + Int64(Double(after.components.seconds) * 1000 + Double(after.components.attoseconds) / 1e15)
                key.heldUntilMs = max(key.heldUntilMs ?? 0, until)
            }
            if key.lastDecreaseMs.map({ now - $0 >= tuning.decreaseWindowMs }) ?? true {
                key.budget = max(1, key.budget * tuning.decrease)
                key.lastDecreaseMs = now
            }
        } else if (200..<300).contains(status) {
            key.budget = min(Double(maxInFlight), key.budget + tuning.increase / max(1, key.budget))
        }
    }

    /// Grants every waiter that may start now, fairest first. Called with the lock held.
    private func dispatch(_ state: inout State, now: Int64) -> [Waiter] {
        var granted: [Waiter] = []
        while state.inFlight < maxInFlight {
            var best: (index: Int, share: Double)?
            for (index, waiter) in state.waiters.enumerated() {
                guard let job = state.jobs[waiter.job], let key = state.keys[job.keyID] else {
                    // A job that never joined (or left) still gets served; it only has the global cap.
                    if best == nil { best = (index, .infinity) }
                    continue
                }
                if let held = key.heldUntilMs, held > now { continue }
                guard key.inFlight < key.allowed else { continue }
                let share = Double(job.inFlight + 1) / job.weight
                if best == nil || share < best!.share { best = (index, share) }
            }
            guard let chosen = best else { break }
            let waiter = state.waiters.remove(at: chosen.index)
            state.inFlight += 1
            state.peak = max(state.peak, state.inFlight)
            if var job = state.jobs[waiter.job] {
                job.inFlight += 1
                state.jobs[waiter.job] = job
                if var key = state.keys[job.keyID] {
                    key.inFlight += 1
                    if let held = key.heldUntilMs, held <= now { key.heldUntilMs = nil }
                    state.keys[job.keyID] = key
                }
            }
            granted.append(waiter)
        }
        return granted
    }

    /// Every key's budget in force, as the store records it (and metrics and `status` show it).
    public func keys() -> [KeyBudgetRecord] {
        state.withLock { state in
            let now = nowMs()
            return state.keys.sorted { $0.key < $1.key }.map { id, key in
                KeyBudgetRecord(keyID: id, budget: key.allowed, maxBudget: maxInFlight, inFlight: key.inFlight,
                                heldUntilMs: key.heldUntilMs.flatMap { $0 > now ? $0 : nil }, rateLimited: key.rateLimited,
                                updatedAtMs: now)
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
}
