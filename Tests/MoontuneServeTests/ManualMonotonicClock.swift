import Foundation
import MoondreamAPI
import Synchronization

/// A monotonic clock the test moves by hand; sleepers wake when it passes their deadline (and a
/// cancelled sleeper at once). So a hold that ends is seen without anything polling.
final class ManualMonotonicClock: Sendable {
    let start = ContinuousClock.now
    private struct State {
        var offset: Duration = .zero
        var sleepers: [UInt64: (deadline: Duration, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    var now: ContinuousClock.Instant { start + state.withLock { $0.offset } }
    var sleeping: Int { state.withLock { $0.sleepers.count } }

    func advance(_ duration: Duration) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.offset += duration
            let ready = state.sleepers.filter { $0.value.deadline <= state.offset }
            for id in ready.keys { state.sleepers.removeValue(forKey: id) }
            return ready.map(\.value.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    func sleep(_ duration: Duration) async throws {
        let id = state.withLock { state -> UInt64 in state.nextID += 1; return state.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    let deadline = state.offset + duration
                    if deadline <= state.offset { return .success(()) }
                    state.sleepers[id] = (deadline, continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation = state.withLock { $0.sleepers.removeValue(forKey: id)?.continuation }
            continuation?.resume(throwing: CancellationError())
        }
    }

    var environment: RetryEnvironment {
        RetryEnvironment(now: { self.now }, sleep: { try await self.sleep($0) }, date: { Date() }, random: { 0.5 })
    }
}
