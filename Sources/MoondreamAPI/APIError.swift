/// A failed API call: what kind of failure, where, and what the server said.
///
/// It never carries the API key: the client redacts the key from every server message it keeps.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// 400: the request was refused as malformed. Not retried.
        case badRequest
        /// 401/403: the key is missing or wrong. Never retried.
        case unauthorized
        /// 404.
        case notFound
        /// 409, for example the same finetune name with another rank.
        case conflict
        /// 410, for example a checkpoint deleted twice.
        case gone
        /// 429: retried after the server's Retry-After.
        case rateLimited
        /// 5xx.
        case server
        /// Another 4xx status.
        case otherClientError
        /// The request could not be delivered or its answer was lost.
        case transport(TransportFailure)
        /// The server answered 2xx with a body that does not decode.
        case undecodable
    }

    public let kind: Kind
    /// The call, for example `POST /tuning/train_step`.
    public let endpoint: String
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// The server's message, or a description of the transport failure.
    public let message: String
    /// The wait the server asked for (429, some 503s), already sanity-checked.
    public let retryAfter: Duration?
    /// True when this was a non-idempotent call (train_step) whose effect on the server is
    /// unknown: it may or may not have been applied. The caller must reconcile.
    public let isAmbiguous: Bool
    /// How many attempts were made before giving up.
    public let attempts: Int

    public init(kind: Kind, endpoint: String, status: Int? = nil, message: String,
                retryAfter: Duration? = nil, isAmbiguous: Bool = false, attempts: Int = 1) {
        self.kind = kind
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
        self.isAmbiguous = isAmbiguous
        self.attempts = attempts
    }

    func with(attempts: Int, ambiguous: Bool? = nil) -> APIError {
        APIError(kind: kind, endpoint: endpoint, status: status, message: message,
                 retryAfter: retryAfter, isAmbiguous: ambiguous ?? isAmbiguous, attempts: attempts)
    }

    /// Whether a call that is safe to repeat may be tried again after this failure.
    public var isTransient: Bool {
        switch kind {
        // Fetching an oversized answer again would only fetch it again; a host that does not
        // resolve or a certificate that fails verification is a config to fix, not an outage.
        case .transport(.responseTooLarge), .transport(.unresolvable), .transport(.tls): false
        case .rateLimited, .server, .transport: true
        case .badRequest, .unauthorized, .notFound, .conflict, .gone, .otherClientError, .undecodable: false
        }
    }

    /// Whether the server may still be working on the request after this failure: the answer
    /// never came (a timeout, a lost connection), or a gateway answered for a backend that may
    /// still be running it (502, 504, 520–524). A server that answered for itself (500, 503, ...)
    /// is done with the request, whatever it did.
    public var mayStillBeRunning: Bool {
        switch kind {
        case .transport: true
        case .server: [502, 504, 520, 521, 522, 523, 524].contains(status ?? 0)
        default: false
        }
    }

    /// A short name for metrics and events: `http_503`, `rate_limited`, `timeout`, ...
    public var metricName: String {
        switch kind {
        case .rateLimited: "rate_limited"
        case .server: "http_\(status ?? 500)"
        case .transport(let failure): failure.metricName
        case .badRequest: "bad_request"
        case .unauthorized: "unauthorized"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .gone: "gone"
        case .otherClientError: "http_\(status ?? 400)"
        case .undecodable: "undecodable"
        }
    }

    public var description: String {
        var text = "\(endpoint): "
        if let status { text += "HTTP \(status) " }
        text += kindDescription
        if !message.isEmpty { text += ": \(message)" }
        if attempts > 1 { text += " (after \(attempts) attempts)" }
        if isAmbiguous { text += " [outcome unknown: the step may have been applied]" }
        return text
    }

    /// The failure in a few words, for a line that says why moontune waits: "connection refused",
    /// "503", "429, Retry-After 20 s", "timed out".
    public var waitReason: String {
        var text: String
        switch kind {
        case .transport(let failure):
            // The transport's own words ("connection refused") when it has them.
            text = message.isEmpty || message.count > 80 ? failure.description : message
        default:
            text = status.map(String.init) ?? metricName
        }
        if let retryAfter { text += ", Retry-After \(Self.seconds(retryAfter))" }
        return text
    }

    /// "20 s", "0.5 s".
    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if value == value.rounded() { return "\(Int(value)) s" }
        return "\((value * 10).rounded() / 10) s"
    }

    private var kindDescription: String {
        switch kind {
        case .badRequest: "bad request"
        case .unauthorized: "unauthorized (check the API key)"
        case .notFound: "not found"
        case .conflict: "conflict"
        case .gone: "gone"
        case .rateLimited: "rate limited"
        case .server: "server error"
        case .otherClientError: "refused"
        case .transport(let failure): failure.description
        case .undecodable: "undecodable response"
        }
    }
}

/// How a request failed below HTTP.
public enum TransportFailure: Sendable, Hashable, CustomStringConvertible {
    /// No connection was made: the request never reached the server.
    case connect
    /// The deadline passed before the answer arrived (the server may have acted).
    case timeout
    /// The connection dropped after the request was sent (the server may have acted).
    case connectionLost
    /// The answer was larger than the response-size cap.
    case responseTooLarge
    /// Any other I/O failure; treated as possibly delivered.
    case other
    /// The host of the base URL does not resolve (DNS): nothing to wait for. Never delivered.
    case unresolvable
    /// TLS failed (the certificate did not verify, the handshake was refused). Never delivered.
    case tls

    /// True when the request certainly did not reach the server.
    public var certainlyNotDelivered: Bool { self == .connect || self == .unresolvable || self == .tls }

    public var metricName: String {
        switch self {
        case .connect: "connect"
        case .timeout: "timeout"
        case .connectionLost: "connection_lost"
        case .responseTooLarge: "response_too_large"
        case .other: "transport"
        case .unresolvable: "unresolvable"
        case .tls: "tls"
        }
    }

    public var description: String {
        switch self {
        case .connect: "could not connect"
        case .timeout: "timed out"
        case .connectionLost: "connection lost"
        case .responseTooLarge: "response too large"
        case .other: "transport error"
        case .unresolvable: "DNS lookup failed"
        case .tls: "TLS failed"
        }
    }
}
