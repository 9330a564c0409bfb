import Foundation
import Logging
import NIOCore

/// The API key, kept out of every description so that printing a configuration cannot leak it.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "[redacted]" }
    public var debugDescription: String { "[redacted]" }
}

/// How a client reaches the API.
public struct ClientConfiguration: Sendable {
    /// The API root, for example `https://api.moondream.ai/v1`. Tuning calls go to
    /// `{baseURL}/tuning/...`, inference calls to `{baseURL}/query` and so on.
    public var baseURL: String
    public var apiKey: APIKey
    public var retry: RetryPolicy
    /// The hard cap on requests in flight.
    public var maxInFlight: Int
    /// Answers larger than this are refused rather than buffered.
    public var maxResponseBytes: Int
    /// A budget shared with other clients (`serve`'s per API key), taken around each attempt
    /// after this client's own limiter; nil: none.
    public var budget: (any RequestBudget)? = nil

    public init(baseURL: String, apiKey: APIKey, retry: RetryPolicy = RetryPolicy(), maxInFlight: Int = 8,
                maxResponseBytes: Int = 64 << 20) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.retry = retry
        self.maxInFlight = maxInFlight
        self.maxResponseBytes = maxResponseBytes
    }
}

/// A typed client for the Moondream tuning and inference API.
///
/// Every request carries `X-Moondream-Auth` and holds one permit of the in-flight limiter for
/// the time it is on the wire. Calls that are safe to repeat are retried by the `RetryPolicy`;
/// `train_step` is never blindly retried (see `trainStep`).
public final class MoondreamClient: Sendable {
    public let configuration: ClientConfiguration
    public let limiter: InFlightLimiter
    let transport: any HTTPTransport
    let environment: RetryEnvironment
    let logger: Logger
    private let root: String
    /// Every call goes through it: limiter, shared budget, retries, waits reported.
    let sender: RetryingSender

    public init(configuration: ClientConfiguration, transport: (any HTTPTransport)? = nil,
                environment: RetryEnvironment = .live, logger: Logger = Logger(label: "moontune.api")) {
        self.configuration = configuration
        self.limiter = InFlightLimiter(limit: configuration.maxInFlight)
        self.transport = transport ?? AsyncHTTPTransport(maxConnections: configuration.maxInFlight)
        self.environment = environment
        self.logger = logger
        var root = configuration.baseURL
        while root.hasSuffix("/") { root.removeLast() }
        self.root = root
        sender = RetryingSender(transport: self.transport, limiter: limiter, environment: environment, budget: configuration.budget,
                                secrets: [configuration.apiKey.value])
    }

    /// Closes the connection pool. Call once, when done with the client.
    public func shutdown() async {
        await transport.shutdown()
    }

    // MARK: - The request pipeline

    /// Sends one call with retries and returns its 2xx answer.
    ///
    /// - Parameters:
    ///   - idempotent: whether repeating the call is harmless. When false, only failures that
    ///     certainly left the server untouched (429, no connection) are retried, and any other
    ///     transient failure is thrown with `isAmbiguous` set.
    ///   - timeout: the deadline of each attempt, when it is not the policy's (train_step has its own).
    ///   - policy: the retry policy, when it is not the client's (best-effort calls try less).
    func send(_ method: String, _ path: String, query: [(String, String)] = [], body: ByteBuffer? = nil,
              idempotent: Bool, timeout: Duration? = nil, policy: RetryPolicy? = nil) async throws -> HTTPResponseSpec {
        let endpoint = "\(method) \(path)"
        let retry = policy ?? configuration.retry
        var headers = [("X-Moondream-Auth", configuration.apiKey.value), ("Accept", "application/json"),
                       ("User-Agent", "moontune")]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let spec = HTTPRequestSpec(method: method, url: root + path + Self.queryString(query), headers: headers,
                                   body: body, timeout: timeout ?? retry.requestTimeout,
                                   maxResponseBytes: configuration.maxResponseBytes)
        return try await sender.send(spec, endpoint: endpoint, idempotent: idempotent, policy: retry, logger: logger,
                                     message: Self.serverMessage) { self.budgetOutcome(method, path, $0) }
    }

    /// The server's own words: `error.message`, `error`, `message` or `detail`, else the text.
    static func serverMessage(_ body: [UInt8]) -> String {
        if let json = try? RawJSON(validating: body) {
            let candidates = [json["error"]?["message"], json["error"], json["message"], json["detail"]]
            for candidate in candidates.compactMap({ $0 }) {
                if let text = try? candidate.decode(String.self) { return clip(text) }
            }
        }
        return clip(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private static func clip(_ text: String) -> String {
        text.count > 500 ? String(text.prefix(500)) + "…" : text
    }

    /// Removes the key from any text that might echo it.
    func redact(_ text: String) -> String {
        SecretRedactor(secrets: [configuration.apiKey.value], minimumLength: 1).redact(text)
    }

    static func queryString(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?/")
        let pairs = items.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }
        return "?" + pairs.joined(separator: "&")
    }

    /// Percent-encodes one path segment (an id from the server).
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // MARK: - Bodies and answers

    static func jsonBody<T: Encodable>(_ value: T) throws -> ByteBuffer {
        ByteBuffer(bytes: try RawJSON.encoding(value).bytes)
    }

    func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponseSpec, endpoint: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw APIError(kind: .undecodable, endpoint: endpoint, status: response.status,
                           message: "the answer does not match the reference: \(Self.decodingSummary(error))")
        }
    }

    static func decodingSummary(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: "not valid JSON"
        default: "undecodable"
        }
    }
}
