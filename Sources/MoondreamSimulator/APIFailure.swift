/// An error answer of the simulated API: `{"error": {"code": ..., "message": ...}}` with a status.
struct APIFailure: Error, Sendable, Equatable {
    let status: Int
    let code: String
    let message: String

    static func badRequest(_ message: String) -> APIFailure { .init(status: 400, code: "bad_request", message: message) }
    static func unauthorized(_ message: String) -> APIFailure { .init(status: 401, code: "unauthorized", message: message) }
    static func notFound(_ message: String) -> APIFailure { .init(status: 404, code: "not_found", message: message) }
    static func methodNotAllowed(_ message: String) -> APIFailure { .init(status: 405, code: "method_not_allowed", message: message) }
    static func conflict(_ message: String) -> APIFailure { .init(status: 409, code: "conflict", message: message) }
    static func gone(_ message: String) -> APIFailure { .init(status: 410, code: "gone", message: message) }
    static func tooLarge(_ message: String) -> APIFailure { .init(status: 413, code: "payload_too_large", message: message) }

    /// The fault answers; `status` is one of 429, 500, 502, 503.
    static func injected(status: Int) -> APIFailure {
        switch status {
        case 429: .init(status: 429, code: "rate_limited", message: "too many requests (simulated)")
        case 502: .init(status: 502, code: "bad_gateway", message: "bad gateway (simulated)")
        case 503: .init(status: 503, code: "service_unavailable", message: "service unavailable (simulated)")
        default: .init(status: status, code: "internal_error", message: "internal server error (simulated)")
        }
    }

    var body: SimJSON {
        .object([("error", .object([("code", .string(code)), ("message", .string(message))]))])
    }
}
