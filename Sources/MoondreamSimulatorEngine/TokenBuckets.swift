/// The simulator's rate limiter (`moontune simulate --rate-limit R [--rate-burst B]`, issue 22):
/// a token bucket per API key, as a gateway keeps one. Each key's bucket holds at most `burst`
/// tokens and gains `rate` a second; a request takes one, and one that finds less than one is
/// refused with the whole seconds until a token is there (at least 1): a `Retry-After`, and
/// nothing else. A pure value over the time it is given.
package struct TokenBuckets: Sendable {
    private var buckets: [String: (tokens: Double, at: Duration)] = [:]

    package init() {}

    /// Takes a token of `key`'s bucket at `now`: nil when there was one, else the whole seconds
    /// to wait.
    package mutating func take(key: String, rate: Double, burst: Double, now: Duration) -> Int? {
        let capacity = max(1, burst)
        var bucket = buckets[key] ?? (capacity, now)
        let elapsed = Double((now - bucket.at).components.seconds) + Double((now - bucket.at).components.attoseconds) / 1e18
        bucket.tokens = min(capacity, bucket.tokens + max(0, elapsed) * rate)
        bucket.at = now
        defer { buckets[key] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        let seconds = (1 - bucket.tokens) / rate
        return max(1, Int(seconds.rounded(.up)))
    }
}

extension SimulatorEngine {
    /// Whether the rate limiter lets a request with `key` through now: nil when it does (or is
    /// off), else the whole-second Retry-After of its 429.
    package func takeRateToken(key: String) -> Int? {
        guard let rate = faults.rateLimitPerSecond, rate > 0 else { return nil }
        return buckets.take(key: key, rate: rate, burst: faults.rateLimitBurst ?? rate, now: clock.now)
    }
}
