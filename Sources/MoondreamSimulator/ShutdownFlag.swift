import MoondreamSimulatorEngine
import Synchronization

/// Set when the simulator begins to stop, so hangs and latencies end early instead of holding a
/// graceful shutdown for their full length. Waits are on the simulator's clock; setting the flag
/// ends them at once, also on a manual clock that nobody moves.
final class ShutdownFlag: Sendable {
    private struct State {
        var isSet = false
        var nextID = 0
        /// Called once when the flag is set.
        var watchers: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    var isSet: Bool { state.withLock { $0.isSet } }

    func set() {
        let watchers = state.withLock { state in
            state.isSet = true
            defer { state.watchers = [:] }
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher() }
    }

    /// Waits until `deadline` on `clock` (never blocking a thread), or less if shutdown begins or
    /// the task is cancelled. The system clock sleeps to its deadline with no timer tolerance, so
    /// a set latency is what a client sees (the benchmark's ideal step time is computed from it).
    func pause(until deadline: Duration, on clock: any SimulatorClock) async {
        guard !isSet, clock.now < deadline else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: deadline) }
            group.addTask { await self.waitUntilSet() }
            await group.next()
            group.cancelAll()
        }
    }

    func pause(for duration: Duration, on clock: any SimulatorClock) async {
        await pause(until: clock.now + duration, on: clock)
    }

    /// As `pause`, but the wait goes on if the task is cancelled (a client that hangs up must not
    /// cut a slow train step short); only a shutdown ends it early.
    func pauseIgnoringCancellation(for duration: Duration, on clock: any SimulatorClock) async {
        let gate = Gate()
        clock.wake(at: clock.now + duration) { gate.open() }
        let watcher = watch { gate.open() }
        await gate.wait()
        unwatch(watcher)
    }

    /// Returns once the flag is set or the task is cancelled.
    private func waitUntilSet() async {
        let gate = Gate()
        let watcher = watch { gate.open() }
        await withTaskCancellationHandler {
            await gate.wait()
        } onCancel: {
            gate.open()
        }
        unwatch(watcher)
    }

    /// Calls `action` once when the flag is set (at once if it is already).
    private func watch(_ action: @escaping @Sendable () -> Void) -> Int? {
        let id: Int? = state.withLock { state in
            guard !state.isSet else { return nil }
            state.nextID += 1
            state.watchers[state.nextID] = action
            return state.nextID
        }
        if id == nil { action() }
        return id
    }

    private func unwatch(_ id: Int?) {
        guard let id else { return }
        state.withLock { _ = $0.watchers.removeValue(forKey: id) }
    }
}

/// A one-time gate: `wait()` returns once `open()` has been called, whoever calls it first.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func open() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.open else { return nil }
            state.open = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let opened = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiter = continuation
                return false
            }
            if opened { continuation.resume() }
        }
    }
}
