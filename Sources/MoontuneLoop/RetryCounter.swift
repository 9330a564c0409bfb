import MoondreamAPI
import Synchronization

/// Counts the retries of one step by kind, for its metrics.
final class RetryCounter: Sendable {
    private let state = Mutex<[String: Int]>([:])

    var counts: [String: Int] { state.withLock { $0 } }
    var total: Int { counts.values.reduce(0, +) }
    var summary: String { counts.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ") }

    func merge(_ other: [String: Int]) {
        state.withLock { counts in
            for (key, value) in other { counts[key, default: 0] += value }
        }
    }

    /// A retry observer that counts (for the step's record), passes each retry on to the run's
    /// observer, and tells the run's wait tracker.
    func observer(forwardingTo runObserver: any RunObserver, waits: WaitTracker) -> RetryObserver {
        let tracker = waits.retryObserver()
        return RetryObserver({ [self] event in
            state.withLock { $0[event.reason, default: 0] += 1 }
            runObserver.record(.retry(event))
            tracker(event)
        }, settled: { endpoint, attempts, succeeded in
            tracker.settled(endpoint: endpoint, attempts: attempts, succeeded: succeeded)
        }, backoff: WaitTracker.stoppableBackoff)
    }
}

/// Request latencies collected by concurrent tasks.
final class LatencyLog: Sendable {
    private let state = Mutex<[Double]>([])
    var values: [Double] { state.withLock { $0 } }
    func append(_ value: Double) { state.withLock { $0.append(value) } }
}
