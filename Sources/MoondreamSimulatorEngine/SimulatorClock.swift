import Foundation
import Synchronization

/// Where the simulator reads the time and how it waits: ids and the `*_at_ms` fields (checkpoint
/// expiry included), outages, latencies, hangs and slow train steps all go through one clock.
///
/// `SystemSimulatorClock` is the default (and what `moontune simulate` uses). In-process tests
/// give a `ManualSimulatorClock` and move it themselves, so that a 1.5 s slow step or a 2.5 s
/// outage takes no real time and lands exactly when the test says. The loop has its own
/// `LoopClock`; the simulator does not depend on the loop, so this is its own small protocol.
public protocol SimulatorClock: Sendable {
    /// Milliseconds since the Unix epoch.
    var epochMilliseconds: Int64 { get }
    /// A monotonic reading, from an origin of the clock's choosing.
    var now: Duration { get }
    /// Returns once `now` has reached `deadline`; throws `CancellationError` if the task is
    /// cancelled first.
    func sleep(until deadline: Duration) async throws
    /// Calls `action` once, when `now` reaches `deadline`, whatever becomes of the task that asked:
    /// for a wait that must outlive its request's cancellation (a slow train step).
    func wake(at deadline: Duration, _ action: @escaping @Sendable () -> Void)
}

extension SimulatorClock {
    package func sleep(for duration: Duration) async throws { try await sleep(until: now + duration) }
}

/// The real time: `Date` for the epoch, `ContinuousClock` for waits, which sleep to their
/// deadline with no timer tolerance (a set latency is what a client sees; the benchmark's ideal
/// step time is computed from it).
public struct SystemSimulatorClock: SimulatorClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var epochMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    public var now: Duration { ContinuousClock.now - origin }

    public func sleep(until deadline: Duration) async throws {
        try await ContinuousClock().sleep(until: origin + deadline, tolerance: .zero)
    }

    public func wake(at deadline: Duration, _ action: @escaping @Sendable () -> Void) {
        let (seconds, attoseconds) = (deadline - now).components
        let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds), execute: action)
    }
}

/// A clock that moves only when told (`advance(by:)`), for in-process tests. Sleepers wake in
/// deadline order when the time passes their deadline; a cancelled sleeper wakes at once with
/// `CancellationError`.
public final class ManualSimulatorClock: SimulatorClock {
    private struct Sleeper {
        let deadline: Duration
        /// Called with nil when the time comes, with an error when a sleeping task is cancelled.
        let resume: @Sendable ((any Error)?) -> Void
    }

    private struct State {
        var now: Duration = .zero
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
        /// Ids cancelled before their continuation was registered (or just after they woke: a
        /// few integers per cancelled sleep, for a clock that lives as long as a test).
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())
    private let startEpochMilliseconds: Int64

    /// `epochMilliseconds` starts at the given time (by default 2025-01-15T10:30:00Z).
    public init(epochMilliseconds: Int64 = 1_736_937_000_000) {
        startEpochMilliseconds = epochMilliseconds
    }

    public var now: Duration { state.withLock { $0.now } }

    public var epochMilliseconds: Int64 {
        let elapsed = now.components
        return startEpochMilliseconds + elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000
    }

    /// How many tasks are sleeping on this clock now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves the time forward and wakes every sleeper whose deadline it reaches.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a clock does not go back")
        let woken: [Sleeper] = state.withLock { state in
            state.now += duration
            let due = state.sleepers.filter { $0.value.deadline <= state.now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in woken { sleeper.resume(nil) }
    }

    public func wake(at deadline: Duration, _ action: @escaping @Sendable () -> Void) {
        let due: Bool = state.withLock { state in
            guard deadline > state.now else { return true }
            state.nextID += 1
            state.sleepers[state.nextID] = Sleeper(deadline: deadline, resume: { _ in action() })
            return false
        }
        if due { action() }
    }

    public func sleep(until deadline: Duration) async throws {
        let id: Int? = state.withLock { state in
            guard deadline > state.now else { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return try Task.checkCancellation() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: (any Error)?? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .some(CancellationError()) }
                    if deadline <= state.now { return .some(nil) }
                    state.sleepers[id] = Sleeper(deadline: deadline, resume: { error in
                        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                    })
                    return .none
                }
                switch resumeNow {
                case .some(.some(let error)): continuation.resume(throwing: error)
                case .some(.none): continuation.resume()
                case .none: break
                }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                guard let sleeper = state.sleepers.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            // Removed under the lock, so `advance` did not wake it: only this resumes it.
            sleeper?.resume(CancellationError())
        }
    }

    /// Waits (in real time, polling, up to `timeout`) until at least `count` tasks sleep on this
    /// clock: a test's way to know the simulator has reached a wait before it moves the time.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while sleeperCount < count {
            guard ContinuousClock.now < deadline else {
                throw WaitTimeout(description: "\(sleeperCount) of \(count) sleepers on the manual clock after \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    public struct WaitTimeout: Error, CustomStringConvertible {
        public let description: String
    }
}
