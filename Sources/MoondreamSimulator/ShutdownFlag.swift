import Synchronization

/// Set when the simulator begins to stop, so hangs and latencies end early instead of holding a
/// graceful shutdown for their full length.
final class ShutdownFlag: Sendable {
    private let state = Mutex(false)

    var isSet: Bool { state.withLock { $0 } }

    func set() { state.withLock { $0 = true } }

    /// Waits `seconds` (never blocking a thread), or less if shutdown begins or the task is
    /// cancelled.
    func pause(seconds: Double) async {
        var remaining = seconds
        while remaining > 0, !isSet {
            let slice = min(remaining, 0.05)
            do {
                try await Task.sleep(for: .milliseconds(Int64((slice * 1000).rounded(.up))))
            } catch {
                return
            }
            remaining -= slice
        }
    }
}
