import MoontuneLoop
import Synchronization

/// Virtual time: a sleep advances it at once, so the in-doubt watch's backoffs and windows take
/// no real time, and every wait is recorded.
final class VirtualClock: LoopClock {
    private let state: Mutex<(now: Int64, sleeps: [Int64])>

    init(nowMs: Int64 = 1_000_000) {
        state = Mutex((nowMs, []))
    }

    func nowMs() -> Int64 { state.withLock { $0.now } }
    /// Every sleep so far, in milliseconds.
    var sleeps: [Int64] { state.withLock { $0.sleeps } }

    func advance(byMs ms: Int64) { state.withLock { $0.now += ms } }

    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        state.withLock { state in
            state.now += ms
            state.sleeps.append(ms)
        }
        await Task.yield()
        try Task.checkCancellation()
    }
}
