import Foundation
import Logging

/// One HTTP call sent with retries: the in-flight limiter (and a shared budget) held around each
/// attempt, a `RetryPolicy` deciding after each failure, Retry-After honoured, and every wait
/// reported to `RetryReporting.observer` (which shows it in the log and `status`, and may end a
/// backoff early on a graceful stop).
///
/// The tuning API's client and the model graders' judge (MoontuneRewards) both send through it,
/// so a wait on either is shown, paced and cut short the same way.
public struct RetryingSender: Sendable {
    public let transport: any HTTPTransport
    public let limiter: InFlightLimiter
    public let environment: RetryEnvironment
    /// A budget shared with other clients (`serve`'s per API key), taken after the limiter.
    public let budget: (any RequestBudget)?
    /// Masks the caller's secrets in the messages of errors.
    let redact: @Sendable (String) -> String

    public init(transport: any HTTPTransport, limiter: InFlightLimiter, environment: RetryEnvironment,
                budget: (any RequestBudget)? = nil, secrets: [String]) {
        self.transport = transport
        self.limiter = limiter
        self.environment = environment
        self.budget = budget
        let redactor = SecretRedactor(secrets: secrets, minimumLength: 1)
        redact = { redactor.redact($0) }
    }

    /// Sends `spec` and returns its 2xx answer, or throws the last `APIError` (with its attempts).
    ///
    /// - Parameters:
    ///   - endpoint: how waits and errors name the call (`POST /tuning/rollouts`).
    ///   - idempotent: whether repeating the call is harmless. When false, only failures that
    ///     certainly left the server untouched (429, no connection) are retried, and any other
    ///     transient failure is thrown with `isAmbiguous` set.
    ///   - message: the server's words in an error answer's body.
    ///   - outcome: what the shared budget learns of an attempt (its status alone, by default).
    public func send(_ spec: HTTPRequestSpec, endpoint: String, idempotent: Bool, policy retry: RetryPolicy,
                     logger: Logger? = nil, message: ([UInt8]) -> String,
                     outcome: ((Result<HTTPResponseSpec, TransportError>) -> RequestBudgetOutcome)? = nil) async throws -> HTTPResponseSpec {
        let started = environment.now()
        let startedAt = environment.date()
        var attempts = 0
        // A call that was retried tells the listener how it ended, however it ends.
        var retried = false
        var succeeded = false
        defer {
            if retried { RetryReporting.observer?.settled(endpoint: endpoint, attempts: attempts, succeeded: succeeded) }
        }
        while true {
            attempts += 1
            let error: APIError
            try await limiter.acquire()
            do { try await budget?.acquire() } catch { limiter.release(); throw error }
            let result: Result<HTTPResponseSpec, TransportError>
            do {
                result = .success(try await transport.execute(spec))
            } catch {
                result = .failure(error)
            }
            if let budget {
                budget.release(outcome?(result) ?? RequestBudgetOutcome(endpoint: endpoint, status: try? result.get().status, retryAfter: nil))
            }
            limiter.release()
            switch result {
            case .success(let response) where (200..<300).contains(response.status):
                succeeded = true
                return response
            case .success(let response):
                error = APIError(kind: APIError.Kind(status: response.status), endpoint: endpoint, status: response.status,
                                 message: redact(message(response.body)),
                                 retryAfter: RetryAfter.parse(headers: response.headers, now: environment.date(), limit: retry.maxRetryAfter))
            case .failure(let failure):
                error = APIError(kind: .transport(failure.failure), endpoint: endpoint, message: redact(failure.detail))
            }
            // A cancelled task (a graceful stop abandoning rollouts) is not a failure to retry.
            if Task.isCancelled { throw CancellationError() }
            switch retry.decide(after: error, attempts: attempts, elapsed: environment.now() - started, idempotent: idempotent,
                                random: environment.random()) {
            case .fail(let ambiguous):
                throw error.with(attempts: attempts, ambiguous: ambiguous)
            case .retry(let delay):
                let now = environment.date()
                let event = RetryEvent(endpoint: endpoint, reason: error.metricName, attempt: attempts, maxAttempts: retry.maxAttempts,
                                       delay: delay, error: error, firstAttemptAt: startedAt, at: now,
                                       nextAttemptAt: now.addingTimeInterval(RetryEvent.seconds(delay)),
                                       givesUpAt: startedAt.addingTimeInterval(RetryEvent.seconds(retry.giveUpAfter)))
                logger?.debug("retrying", metadata: ["endpoint": "\(endpoint)", "reason": "\(event.reason)",
                                                     "attempt": "\(attempts)", "delay": "\(delay)"])
                retried = true
                if let observer = RetryReporting.observer {
                    observer(event)
                    try await observer.backoff(delay, sleep: environment.sleep)
                } else {
                    try await environment.sleep(delay)
                }
            }
        }
    }
}

extension APIError.Kind {
    /// The kind of an HTTP error answer.
    public init(status: Int) {
        switch status {
        case 400: self = .badRequest
        case 401, 403: self = .unauthorized
        case 404: self = .notFound
        case 409: self = .conflict
        case 410: self = .gone
        case 429: self = .rateLimited
        case 500...599: self = .server
        default: self = .otherClientError
        }
    }
}
