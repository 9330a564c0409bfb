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
    public var delay: Duration
    /// The failure, as it would be reported.
    public var error: APIError
}

/// Where retries are reported. A task-local, so the training loop can count the retries of one
/// step (its child tasks inherit it) without threading a parameter through every call.
public enum RetryReporting {
    @TaskLocal public static var observer: RetryObserver?
}

/// Listens to retries: `RetryReporting.$observer.withValue(RetryObserver { event in ... }) { ... }`.
///
/// A struct, not a bare closure, on purpose: Swift 6.3's optimizer miscompiles a task-local whose
/// type is an optional closure, and release builds crash in `swift_task_localValuePush` (null
/// type metadata) on the first `withValue`. Debug builds do not show it.
public struct RetryObserver: Sendable {
    let report: @Sendable (RetryEvent) -> Void

    public init(_ report: @escaping @Sendable (RetryEvent) -> Void) {
        self.report = report
    }

    public func callAsFunction(_ event: RetryEvent) {
        report(event)
    }
}
