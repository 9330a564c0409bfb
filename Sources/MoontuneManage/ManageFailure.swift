import MoondreamAPI

/// A management operation that cannot go on: one line for the user, and the exit code a command
/// should end with (1, or 2 for a configuration problem).
///
/// The CLI prints `message` as `moontune: ...` (it names this type `CommandFailure`).
package struct ManageFailure: Error, CustomStringConvertible, Sendable {
    package let message: String
    package let exitCode: Int32

    package init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    package var description: String { message }

    /// An API failure in words a user can act on; the endpoint and the server's message stay.
    package static func describe(_ error: APIError) -> String {
        switch error.kind {
        case .unauthorized:
            return "the API refused the key (HTTP \(error.status ?? 401)); check the API key variable. \(error.endpoint)"
        case .transport(.connect):
            return "cannot reach the API (\(error.endpoint)): \(error.message)"
        default:
            return error.description
        }
    }
}
