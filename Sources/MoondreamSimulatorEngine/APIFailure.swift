import MoontuneJSON
/// An error answer of the simulated API: `{"error": {"code": ..., "message": ...}}` with a status.
package struct APIFailure: Error, Sendable, Equatable {
    package let status: Int
    package let code: String
    package let message: String

    package init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    package static func badRequest(_ message: String) -> APIFailure { .init(status: 400, code: "bad_request", message: message) }
    package static func unauthorized(_ message: String) -> APIFailure { .init(status: 401, code: "unauthorized", message: message) }
    package static func notFound(_ message: String) -> APIFailure { .init(status: 404, code: "not_found", message: message) }
    package static func methodNotAllowed(_ message: String) -> APIFailure { .init(status: 405, code: "method_not_allowed", message: message) }
    package static func conflict(_ message: String) -> APIFailure { .init(status: 409, code: "conflict", message: message) }
    package static func gone(_ message: String) -> APIFailure { .init(status: 410, code: "gone", message: message) }
    package static func tooLarge(_ message: String) -> APIFailure { .init(status: 413, code: "payload_too_large", message: message) }

    /// The fault answers; `status` is one of 429, 500, 502, 503.
    package static func injected(status: Int) -> APIFailure {
        switch status {
        case 429: .init(status: 429, code: "rate_limited", message: "too many requests (simulated)")
        case 502: .init(status: 502, code: "bad_gateway", message: "bad gateway (simulated)")
        case 503: .init(status: 503, code: "service_unavailable", message: "service unavailable (simulated)")
        default: .init(status: status, code: "internal_error", message: "internal server error (simulated)")
        }
    }

    package var body: JSONValue {
        .members([("error", .members([("code", .string(code)), ("message", .string(message))]))])
    }
}
