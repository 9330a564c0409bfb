import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore

/// A command that cannot go on: one line for the user, and the exit code.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let exitCode: Int32

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    var description: String { message }
}

/// The edge where errors become one clear line on stderr and a non-zero exit.
enum CommandEdge {
    /// Runs a command's body; any error is printed as `moontune: ...` and turned into `ExitCode`.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch let error as CommandFailure {
            fail(error.message)
            throw ExitCode(error.exitCode)
        } catch let error as APIError {
            fail(describe(error))
            throw ExitCode(1)
        } catch {
            fail(String(describing: error))
            throw ExitCode(1)
        }
    }

    static func fail(_ message: String) {
        FileHandle.standardError.write(Data("moontune: \(message)\n".utf8))
    }

    /// An API failure in words a user can act on; the endpoint and the server's message stay.
    static func describe(_ error: APIError) -> String {
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
