import Synchronization

/// A hard cap on requests in flight, shared by every call of one client.
///
/// Callers wait in FIFO order; a released permit passes straight to the next waiter, so the
/// window stays full: a new request starts the moment one finishes. Waiting is cancellable.
public final class InFlightLimiter: Sendable {
    public let limit: Int

    private struct State {
        var inFlight = 0
        var peak = 0
        var waiters = WaiterQueue<Void, Void>()
    }

    private let state = Mutex(State())

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Requests holding a permit right now.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// The most permits ever held at once.
    public var peak: Int { state.withLock { $0.peak } }

    /// Waits for a permit. Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire() async throws {
        let id = state.withLock { $0.waiters.nextID() }
        try await WaiterQueue<Void, Void>.suspend { continuation in
            state.withLock { state in
                if Task.isCancelled { return .failure(CancellationError()) }
                if state.inFlight < limit && state.waiters.isEmpty {
                    state.inFlight += 1
                    state.peak = max(state.peak, state.inFlight)
                    return .success(())
                }
                state.waiters.append(id: id, need: (), continuation: continuation)
                return nil
            }
        } removeOnCancel: {
            state.withLock { $0.waiters.remove(id: id) }
        }
    }

    /// Returns a permit, handing it to the longest waiter if there is one.
    public func release() {
        let next = state.withLock { state -> WaiterQueue<Void, Void>.Waiter? in
            if state.waiters.isEmpty {
                state.inFlight = max(0, state.inFlight - 1)
                return nil
            }
            // The permit passes on: inFlight stays the same.
            return state.waiters.popFirst()
        }
        next?.resume(returning: ())
    }

    /// Runs `body` holding a permit.
    public func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }
}
