import Foundation

/// The clock and the randomness the client's retries use, injected so that backoff tests run in
/// microseconds and never sleep for real.
public struct RetryEnvironment: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var sleep: @Sendable (Duration) async throws -> Void
    /// Wall-clock time, for Retry-After given as an HTTP date.
    public var date: @Sendable () -> Date
    /// Uniform in [0, 1), for jitter.
    public var random: @Sendable () -> Double

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant,
                sleep: @escaping @Sendable (Duration) async throws -> Void,
                date: @escaping @Sendable () -> Date,
                random: @escaping @Sendable () -> Double) {
        self.now = now
        self.sleep = sleep
        self.date = date
        self.random = random
    }

    public static let live = RetryEnvironment(
        now: { ContinuousClock.now },
        sleep: { try await Task.sleep(for: $0) },
        date: { Date() },
        random: { Double.random(in: 0..<1) })
}

/// One retry the client is about to make, reported to whoever listens.
public struct RetryEvent: Sendable {
    /// For example `POST /tuning/rollouts`.
    public var endpoint: String
    /// `http_503`, `rate_limited`, `timeout`, `connect`, ...
    public var reason: String
    /// The attempt that failed (1-based).
    public var attempt: Int
    /// The most attempts the policy makes, the first included.
    public var maxAttempts: Int
    public var delay: Duration
    /// The failure, as it would be reported.
    public var error: APIError
    /// Wall-clock times: when the call was first tried, when the failure was seen, when the next
    /// attempt starts, and when the policy gives up at the latest (`api.give_up_after_s` after
    /// the first attempt; it may give up sooner, after `maxAttempts`).
    public var firstAttemptAt: Date
    public var at: Date
    public var nextAttemptAt: Date
    public var givesUpAt: Date

    public init(endpoint: String, reason: String, attempt: Int, maxAttempts: Int = 1, delay: Duration, error: APIError,
                firstAttemptAt: Date = Date(), at: Date = Date(), nextAttemptAt: Date? = nil, givesUpAt: Date? = nil) {
        self.endpoint = endpoint
        self.reason = reason
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.delay = delay
        self.error = error
        self.firstAttemptAt = firstAttemptAt
        self.at = at
        self.nextAttemptAt = nextAttemptAt ?? at.addingTimeInterval(Self.seconds(delay))
        self.givesUpAt = givesUpAt ?? self.nextAttemptAt
    }

    /// Why the call is retried, in words: "connection refused", "503", "429, Retry-After 20 s".
    public var waitReason: String { error.waitReason }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Where retries are reported. A task-local, so the training loop can count the retries of one
/// step (its child tasks inherit it) without threading a parameter through every call.
public enum RetryReporting {
    @TaskLocal public static var observer: RetryObserver?
}

/// Listens to retries: `RetryReporting.$observer.withValue(RetryObserver { event in ... }) { ... }`.
///
/// `settled` hears, once, of every call that was retried at least once, when it ends: answered
/// 2xx (`succeeded`), or thrown (given up, refused, or cancelled). So a listener can tell when a
/// wait is over.
///
/// A struct, not a bare closure, on purpose: Swift 6.3's optimizer miscompiles a task-local whose
/// type is an optional closure, and release builds crash in `swift_task_localValuePush` (null
/// type metadata) on the first `withValue`. Debug builds do not show it.
public struct RetryObserver: Sendable {
    /// The client's sleep, as `backoff` is handed it.
    public typealias Sleep = @Sendable (Duration) async throws -> Void

    let report: @Sendable (RetryEvent) -> Void
    let settle: @Sendable (_ endpoint: String, _ attempts: Int, _ succeeded: Bool) -> Void
    let wait: @Sendable (Duration, @escaping Sleep) async throws -> Void

    /// - Parameter backoff: waits out one backoff with the given sleep; it may end it early by
    ///   throwing (a graceful stop does), and then the call throws that error and is not retried.
    ///   For a call that is not idempotent (train_step), a backoff only ever follows a failure that
    ///   certainly left the server untouched, so ending it leaves nothing in doubt.
    public init(_ report: @escaping @Sendable (RetryEvent) -> Void,
                settled: @escaping @Sendable (_ endpoint: String, _ attempts: Int, _ succeeded: Bool) -> Void = { _, _, _ in },
                backoff: @escaping @Sendable (Duration, @escaping Sleep) async throws -> Void = { delay, sleep in try await sleep(delay) }) {
        self.report = report
        self.settle = settled
        self.wait = backoff
    }

    /// Waits out one backoff.
    public func backoff(_ delay: Duration, sleep: @escaping Sleep) async throws {
        try await wait(delay, sleep)
    }

    public func callAsFunction(_ event: RetryEvent) {
        report(event)
    }

    /// A call to `endpoint` that was retried ended after `attempts` attempts.
    public func settled(endpoint: String, attempts: Int, succeeded: Bool) {
        settle(endpoint, attempts, succeeded)
    }
}
