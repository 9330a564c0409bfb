import MoondreamAPI
import Synchronization

/// The highest step the server is known to have applied, and the rollouts waiting for it.
///
/// Derived, not a copy of its own: `ProgressLedger` is its only writer, and sets it to the
/// machine's `rolloutPolicyStep` after every fact, load and train_step answer (the `rolloutPolicy`
/// effect). Gatherers only wait on it.
///
/// A step's rollouts may be sampled only from a policy at most `max_staleness` steps old, so the
/// rollouts of step s are sent once step s − 1 − staleness is applied. Gathers start earlier than
/// that: they read their examples, build and encode their requests, then wait here. The moment
/// train_step returns, the next step's requests go out, already built, while the step is still
/// being recorded (rollouts change nothing on the server and are recorded nowhere, so a crash
/// before the record only discards them).
final class AppliedSteps: Sendable {
    private struct State {
        var applied: Int
        /// Each waiter waits for the step it needs.
        var waiters = WaiterQueue<Int, Int>()
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
        let id = state.withLock { $0.waiters.nextID() }
        return try await WaiterQueue<Int, Int>.suspend { continuation in
            state.withLock { state in
                if Task.isCancelled { return .failure(CancellationError()) }
                if state.applied >= need { return .success(state.applied) }
                state.waiters.append(id: id, need: need, continuation: continuation)
                return nil
            }
        } removeOnCancel: {
            state.withLock { $0.waiters.remove(id: id) }
        }
    }

    private static func ready(_ state: inout State) -> [(WaiterQueue<Int, Int>.Waiter, Int)] {
        let applied = state.applied
        return state.waiters.removeAll { $0 <= applied }.map { ($0, applied) }
    }

    private func release(_ ready: [(WaiterQueue<Int, Int>.Waiter, Int)]) {
        for (waiter, applied) in ready { waiter.resume(returning: applied) }
    }
}
