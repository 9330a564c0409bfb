import Foundation

/// What a server says of its rate limit in headers, when it says anything (issue 22).
///
/// Read from the IETF draft's `RateLimit-Policy` / `RateLimit` (both the structured-field form
/// `"default";q=10;w=1` / `"default";r=3;t=1` and the older `10;w=1` / `limit=10, remaining=3,
/// reset=1`), or the common `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.
/// Values that make no sense are dropped: a server's header never makes moontune send faster than
/// what the limit and window say, nor wait absurdly long.
public struct RateLimitHint: Sendable, Equatable {
    /// Requests allowed per `window`.
    public var limit: Double?
    /// The limit's window; one second when the server names no window.
    public var window: Duration?
    /// Requests left in the current window.
    public var remaining: Int?
    /// When the current window ends (and `remaining` is full again), from now.
    public var reset: Duration?

    public init(limit: Double? = nil, window: Duration? = nil, remaining: Int? = nil, reset: Duration? = nil) {
        self.limit = limit
        self.window = window
        self.remaining = remaining
        self.reset = reset
    }

    /// Requests a second the policy allows, when the headers say.
    public var requestsPerSecond: Double? {
        guard let limit, limit > 0 else { return nil }
        let seconds = (window ?? .seconds(1)).inSeconds
        guard seconds > 0 else { return nil }
        return limit / seconds
    }

    /// Parses the headers; nil when none of them says anything usable.
    ///
    /// - Parameters:
    ///   - now: wall-clock time, for an `X-RateLimit-Reset` given as a Unix time.
    ///   - maxReset: a reset further away than this is ignored.
    public static func parse(headers: [(String, String)], now: Date, maxReset: Duration = .seconds(600)) -> RateLimitHint? {
        var hint = RateLimitHint()
        if let policy = value("ratelimit-policy", headers) {
            let params = parameters(policy)
            hint.limit = number(params["q"] ?? params["limit"] ?? params[""])
            hint.window = number(params["w"]).map(duration)
        }
        if let current = value("ratelimit", headers) {
            let params = parameters(current)
            hint.remaining = number(params["r"] ?? params["remaining"]).map { Int($0) }
            hint.reset = number(params["t"] ?? params["reset"]).map(duration)
            if hint.limit == nil { hint.limit = number(params["limit"]) }
        }
        if hint.limit == nil, let limit = value("x-ratelimit-limit", headers) {
            // "10" or "10, 10;w=1": the first number is the limit.
            let params = parameters(limit)
            hint.limit = number(params[""])
            if hint.window == nil { hint.window = number(params["w"] ?? params["window"]).map(duration) }
        }
        if hint.remaining == nil, let remaining = value("x-ratelimit-remaining", headers) {
            hint.remaining = number(remaining).map { Int($0) }
        }
        if hint.reset == nil, let raw = value("x-ratelimit-reset", headers), let reset = number(raw) {
            // Seconds from now, or a Unix time (anything past 2001 in seconds).
            let seconds = reset > 1_000_000_000 ? reset - now.timeIntervalSince1970 : reset
            hint.reset = seconds >= 0 ? duration(seconds) : nil
        }
        if let reset = hint.reset, reset > maxReset { hint.reset = nil }
        if let window = hint.window, window > maxReset || window <= .zero { hint.window = nil }
        return hint == RateLimitHint() ? nil : hint
    }

    private static func value(_ name: String, _ headers: [(String, String)]) -> String? {
        headers.first { $0.0.lowercased() == name }?.1
    }

    /// `"default";q=10;w=1` → ["q": "10", "w": "1"]; `limit=10, remaining=3` → the same shape;
    /// a bare leading number is kept under "". Only the first policy of a list is read.
    static func parameters(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        let firstItem = text.contains("=") && text.contains(";") ? String(text.split(separator: ",").first ?? "") : text
        for part in firstItem.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pieces.count == 2 {
                if result[pieces[0].lowercased()] == nil { result[pieces[0].lowercased()] = pieces[1] }
            } else if pieces.count == 1, result[""] == nil, Double(pieces[0]) != nil {
                result[""] = pieces[0]
            }
        }
        return result
    }

    private static func number(_ text: String?) -> Double? {
        guard let text = text?.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
              let value = Double(text), value.isFinite, value >= 0 else { return nil }
        return value
    }

    private static func duration(_ seconds: Double) -> Duration { .milliseconds(Int64((seconds * 1000).rounded())) }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
