import Foundation

/// When and how long to wait before trying a failed call again: exponential backoff with jitter
/// and a cap, the server's Retry-After when it is sane, a maximum number of attempts and a total
/// time budget. A pure value: every decision is a function of its inputs, so it is tested without
/// sleeping.
public struct RetryPolicy: Sendable, Hashable {
    /// Total attempts, the first included.
    public var maxAttempts: Int
    /// The first backoff; each later one doubles, up to `maxDelay`.
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// No retry starts once this much time has passed since the first attempt.
    public var giveUpAfter: Duration
    /// The deadline of each attempt.
    public var requestTimeout: Duration
    /// A Retry-After above this is treated as absurd and ignored.
    public var maxRetryAfter: Duration

    public init(maxAttempts: Int = 8, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30),
                giveUpAfter: Duration = .seconds(900), requestTimeout: Duration = .seconds(120),
                maxRetryAfter: Duration = .seconds(600)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.giveUpAfter = giveUpAfter
        self.requestTimeout = requestTimeout
        self.maxRetryAfter = maxRetryAfter
    }

    /// What to do after a failed attempt.
    public enum Decision: Sendable, Hashable {
        case retry(after: Duration)
        /// Give up; `ambiguous` is true when a non-idempotent call may have been applied.
        case fail(ambiguous: Bool)
    }

    /// The backoff after the `failures`-th consecutive failure (1-based), with "equal jitter":
    /// between half and all of the capped exponential delay. `random` is in [0, 1).
    public func backoff(failures: Int, random: Double) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let base = seconds(baseDelay) * pow(2, Double(exponent))
        let capped = min(base, seconds(maxDelay))
        let jitter = 0.5 + 0.5 * min(max(random, 0), 1)
        return .milliseconds(Int64((capped * jitter * 1000).rounded()))
    }

    /// Decides whether to retry a call that failed with `error` after `attempts` attempts, with
    /// `elapsed` since the first one.
    ///
    /// A call that is not idempotent (train_step) is retried only when it certainly did not take
    /// effect: a 429, or a connection that was never made. A 5xx, a timeout or a lost connection
    /// leave it ambiguous, and the caller must reconcile.
    public func decide(after error: APIError, attempts: Int, elapsed: Duration, idempotent: Bool,
                       random: Double) -> Decision {
        let certainlyNotApplied: Bool
        switch error.kind {
        case .rateLimited: certainlyNotApplied = true
        case .transport(let failure): certainlyNotApplied = failure.certainlyNotDelivered
        default: certainlyNotApplied = !error.isTransient
        }
        let ambiguous = !idempotent && !certainlyNotApplied
        guard error.isTransient, idempotent || certainlyNotApplied else {
            return .fail(ambiguous: ambiguous)
        }
        guard attempts < maxAttempts else { return .fail(ambiguous: false) }
        var delay = backoff(failures: attempts, random: random)
        if let retryAfter = error.retryAfter, retryAfter <= maxRetryAfter {
            delay = retryAfter
        }
        guard elapsed + delay <= giveUpAfter else { return .fail(ambiguous: false) }
        return .retry(after: delay)
    }

    private func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// Reads the server's requested wait from `retry-after-ms` or `Retry-After` (delta-seconds or an
/// HTTP date). Negative, non-finite, unparseable or absurdly distant values give nil, and the
/// caller falls back to its own backoff.
public enum RetryAfter {
    public static func parse(headers: [(String, String)], now: Date, limit: Duration) -> Duration? {
        let limitSeconds = Double(limit.components.seconds)
        if let raw = value(of: "retry-after-ms", in: headers), let ms = Double(raw.trimmingCharacters(in: .whitespaces)),
           ms.isFinite, ms >= 0, ms / 1000 <= limitSeconds {
            return .milliseconds(Int64(ms.rounded()))
        }
        guard let raw = value(of: "retry-after", in: headers)?.trimmingCharacters(in: .whitespaces),
              !raw.isEmpty else { return nil }
        if let seconds = Double(raw) {
            guard seconds.isFinite, seconds >= 0, seconds <= limitSeconds else { return nil }
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        guard let date = httpDate(raw) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite, seconds >= 0, seconds <= limitSeconds else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    private static func value(of name: String, in headers: [(String, String)]) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }

    /// IMF-fixdate, the obsolete RFC 850 form and asctime, as RFC 9110 requires a client to accept.
    static func httpDate(_ text: String) -> Date? {
        let formats = ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"]
        for format in formats {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
