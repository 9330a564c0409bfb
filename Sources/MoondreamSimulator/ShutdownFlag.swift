import MoondreamSimulatorEngine
import Dispatch
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

    /// Waits `seconds` even if the task is cancelled (a client that hangs up must not cut a slow
    /// train step short); only a shutdown ends it early. Never blocks a thread: each slice is a
    /// Dispatch timer resuming a continuation.
    func pauseIgnoringCancellation(seconds: Double) async {
        let clock = ContinuousClock()
        let end = clock.now + .nanoseconds(Int64((seconds * 1e9).rounded()))
        while !isSet {
            let left = end - clock.now
            guard left > .zero else { return }
            let slice = min(left, .milliseconds(50))
            let nanoseconds = Int(slice.components.seconds) * 1_000_000_000 + Int(slice.components.attoseconds / 1_000_000_000)
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(max(1, nanoseconds))) { continuation.resume() }
            }
        }
    }
}
