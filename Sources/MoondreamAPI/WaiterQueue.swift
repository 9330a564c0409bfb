import DequeModule

/// Tasks suspended until something they wait for is available, first come first served, each
/// removable by its id when its task is cancelled.
///
/// The one waiter queue of the package: `InFlightLimiter` (permits), `serve`'s `SharedBudget`
/// (permits by fair share and pace) and the loop's `AppliedSteps` (a step applied) keep one inside their `Mutex`-protected state, decide under
/// the lock who is ready, and resume those continuations after releasing it. `suspend` does the
/// cancellation-safe part that every such queue needs: a waiter cancelled before it was enqueued
/// never waits, and one cancelled while waiting is removed and resumed with `CancellationError`
/// exactly once.
public struct WaiterQueue<Value: Sendable, Need: Sendable>: Sendable {
    public struct Waiter: Sendable {
        public let id: UInt64
        /// What the waiter waits for (for example the step it needs).
        public let need: Need
        let continuation: CheckedContinuation<Value, any Error>

        public func resume(returning value: Value) { continuation.resume(returning: value) }
        public func resume(throwing error: any Error) { continuation.resume(throwing: error) }
    }

    private var waiters: Deque<Waiter> = []
    private var lastID: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { waiters.isEmpty }
    public var count: Int { waiters.count }

    /// A fresh id for a waiter about to suspend.
    public mutating func nextID() -> UInt64 {
        lastID &+= 1
        return lastID
    }

    public mutating func append(id: UInt64, need: Need, continuation: CheckedContinuation<Value, any Error>) {
        waiters.append(Waiter(id: id, need: need, continuation: continuation))
    }

    /// Every waiter's id and need, in arrival order (for an owner that chooses by more than
    /// arrival, as `serve`'s budget chooses by fair share).
    public func needs() -> [(id: UInt64, need: Need)] { waiters.map { ($0.id, $0.need) } }

    /// The longest waiter, removed.
    public mutating func popFirst() -> Waiter? { waiters.popFirst() }

    /// The waiter of that id, removed (nil when it was already resumed).
    public mutating func remove(id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index)
    }

    /// Every waiter whose need is met, removed, in arrival order.
    public mutating func removeAll(where isReady: (Need) -> Bool) -> [Waiter] {
        var ready: [Waiter] = []
        var waiting: Deque<Waiter> = []
        for waiter in waiters {
            if isReady(waiter.need) { ready.append(waiter) } else { waiting.append(waiter) }
        }
        waiters = waiting
        return ready
    }

    /// Suspends the current task as waiter `id`.
    ///
    /// - Parameters:
    ///   - enqueueOrResolve: run under the owner's lock: returns the outcome at once (`nil`
    ///     enqueues the continuation with `append`, and the owner resumes it later). It must check
    ///     `Task.isCancelled` first, so that a cancellation that came before it is not missed.
    ///   - removeOnCancel: run under the owner's lock when the task is cancelled: `remove(id:)`.
    public static func suspend(
        enqueueOrResolve: (CheckedContinuation<Value, any Error>) -> Result<Value, any Error>?,
        removeOnCancel: @Sendable () -> Waiter?
    ) async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                if let outcome = enqueueOrResolve(continuation) { continuation.resume(with: outcome) }
            }
        } onCancel: {
            removeOnCancel()?.resume(throwing: CancellationError())
        }
    }
}
