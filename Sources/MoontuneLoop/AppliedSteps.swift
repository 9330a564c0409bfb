import Synchronization

/// The highest step the server is known to have applied, and the rollouts waiting for it.
///
/// A step's rollouts may be sampled only from a policy at most `max_staleness` steps old, so the
/// rollouts of step s are sent once step s − 1 − staleness is applied. Gathers start earlier than
/// that: they read their examples, build and encode their requests, then wait here. The moment
/// train_step returns, the next step's requests go out, already built, while the step is still
/// being recorded (rollouts change nothing on the server and are recorded nowhere, so a crash
/// before the record only discards them).
final class AppliedSteps: Sendable {
    private struct Waiter {
        var id: UInt64
        var need: Int
        var continuation: CheckedContinuation<Int, any Error>
    }

    private struct State {
        var applied: Int
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state: Mutex<State>

    init(applied: Int) {
        state = Mutex(State(applied: applied))
    }

    var applied: Int { state.withLock { $0.applied } }

    /// Records that the server has applied `step` (a lower value than the current one is ignored).
    func advance(to step: Int) {
        release(state.withLock { state in
            state.applied = max(state.applied, step)
            return Self.ready(&state)
        })
    }

    /// Sets the applied step outright: after a reconciliation, which may move it back.
    func reset(to step: Int) {
        release(state.withLock { state in
            state.applied = step
            return Self.ready(&state)
        })
    }

    /// Waits until at least step `need` is applied; returns the applied step at that moment.
    /// Throws `CancellationError` if the task is cancelled while waiting.
    func wait(until need: Int) async throws -> Int {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
                let outcome: Result<Int, any Error>? = state.withLock { state in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.applied >= need { return .success(state.applied) }
                    state.waiters.append(Waiter(id: id, need: need, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private static func ready(_ state: inout State) -> [(CheckedContinuation<Int, any Error>, Int)] {
        let applied = state.applied
        let (ready, waiting) = (state.waiters.filter { $0.need <= applied }, state.waiters.filter { $0.need > applied })
        state.waiters = waiting
        return ready.map { ($0.continuation, applied) }
    }

    private func release(_ ready: [(CheckedContinuation<Int, any Error>, Int)]) {
        for (continuation, applied) in ready { continuation.resume(returning: applied) }
    }
}
