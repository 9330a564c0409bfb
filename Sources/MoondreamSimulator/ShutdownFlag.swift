import Synchronization

/// Set when the simulator begins to stop, so hangs and latencies end early instead of holding a
/// graceful shutdown for their full length.
final class ShutdownFlag: Sendable {
    private let state = Mutex(false)

    var isSet: Bool { state.withLock { $0 } }

    func set() { state.withLock { $0 = true } }

    /// Waits `seconds` (never blocking a thread), or less if shutdown begins or the task is
    /// cancelled.
    ///
    /// Sleeps to a deadline with no timer tolerance, so that a set latency is what a client sees
    /// (the benchmark's ideal step time is computed from it).
    func pause(seconds: Double) async {
        let clock = ContinuousClock()
        let end = clock.now + .nanoseconds(Int64((seconds * 1e9).rounded()))
        while !isSet {
            let now = clock.now
            guard now < end else { return }
            do {
                try await clock.sleep(until: min(end, now + .milliseconds(50)), tolerance: .zero)
            } catch {
                return
            }
        }
    }
}
