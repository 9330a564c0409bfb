import MoondreamSimulatorEngine
import Synchronization

/// Set when the simulator begins to stop, so hangs and latencies end early instead of holding a
/// graceful shutdown for their full length.
final class ShutdownFlag: Sendable {
    private let state = Mutex(false)

    var isSet: Bool { state.withLock { $0 } }

    func set() { state.withLock { $0 = true } }

    /// Waits until `deadline` on `clock` (never blocking a thread), or less if shutdown begins or
    /// the task is cancelled.
    ///
    /// The wait and the watch on the flag race: the wait sleeps to its deadline on the clock (for
    /// the system clock, with no timer tolerance, so a set latency is what a client sees), and the
    /// watch looks at the flag every 50 ms of real time, so a stop ends the wait even on a manual
    /// clock that nobody moves.
    func pause(until deadline: Duration, on clock: any SimulatorClock) async {
        guard !isSet, clock.now < deadline else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await clock.sleep(until: deadline) }
            group.addTask {
                while !self.isSet {
                    do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    func pause(for duration: Duration, on clock: any SimulatorClock) async {
        await pause(until: clock.now + duration, on: clock)
    }

    /// As `pause`, but the wait goes on if the task is cancelled (a client that hangs up must not
    /// cut a slow train step short); only a shutdown ends it early. The wait runs in a task of its
    /// own, which the caller's cancellation does not reach.
    func pauseIgnoringCancellation(for duration: Duration, on clock: any SimulatorClock) async {
        let deadline = clock.now + duration
        await Task { await self.pause(until: deadline, on: clock) }.value
    }
}
