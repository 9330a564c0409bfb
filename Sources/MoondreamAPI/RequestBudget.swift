import Foundation

/// A budget of requests in flight shared beyond one client (issue 13: `serve` shares one budget
/// per API key among its jobs).
///
/// The client takes one permit of it around each attempt, after its own limiter, and gives it
/// back with what the attempt got, so that the budget can hold every job on the key back while a
/// Retry-After lasts and adjust itself to the 429s it sees.
public protocol RequestBudget: Sendable {
    /// Waits for a permit; throws `CancellationError` when the task is cancelled while waiting.
    func acquire() async throws
    /// Returns the permit taken by `acquire`, with what the attempt got.
    func release(_ outcome: RequestBudgetOutcome)
    /// The user states the plan's limit (`api.max_requests_per_s`): send no faster.
    func limit(requestsPerSecond: Double)
}

extension RequestBudget {
    /// A budget that does not pace ignores a stated limit.
    public func limit(requestsPerSecond: Double) {}
}

/// What one attempt got, as a budget sees it.
public struct RequestBudgetOutcome: Sendable, Equatable {
    /// `METHOD /path`, with ids in the path replaced by `:id`.
    public var endpoint: String
    /// The HTTP status; nil when no answer came (a connection failure, a timeout, a cancellation).
    public var status: Int?
    /// The Retry-After of a 429 or 503, when the server sent one.
    public var retryAfter: Duration?
    /// What the answer's rate-limit headers said, if anything (issue 22).
    public var rateLimit: RateLimitHint?

    public init(endpoint: String, status: Int?, retryAfter: Duration?, rateLimit: RateLimitHint? = nil) {
        self.endpoint = endpoint
        self.status = status
        self.retryAfter = retryAfter
        self.rateLimit = rateLimit
    }

    /// `POST /tuning/finetunes/01HX.../train_step` → `POST /tuning/finetunes/:id/train_step`:
    /// a bounded set of label values for metrics.
    public static func route(method: String, path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            let looksLikeID = segment.count >= 16 || (segment.first?.isNumber ?? false)
            return looksLikeID ? ":id" : String(segment)
        }
        return "\(method) \(segments.joined(separator: "/"))"
    }
}

extension MoondreamClient {
    /// The outcome of one attempt, for the shared budget.
    func budgetOutcome(_ method: String, _ path: String, _ result: Result<HTTPResponseSpec, TransportError>) -> RequestBudgetOutcome {
        let route = RequestBudgetOutcome.route(method: method, path: path)
        guard case .success(let response) = result else { return RequestBudgetOutcome(endpoint: route, status: nil, retryAfter: nil) }
        let retryAfter = response.status == 429 || response.status == 503
            ? RetryAfter.parse(headers: response.headers, now: environment.date(), limit: configuration.retry.maxRetryAfter) : nil
        let hint = RateLimitHint.parse(headers: response.headers, now: environment.date(), maxReset: configuration.retry.maxRetryAfter)
        return RequestBudgetOutcome(endpoint: route, status: response.status, retryAfter: retryAfter, rateLimit: hint)
    }
}
