import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneManage
import MoontuneStore

/// A command that cannot go on: one line for the user, and the exit code. The management
/// library's failure (MoontuneManage), so that its errors and the commands' own are one type.
typealias CommandFailure = ManageFailure

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
        ManageFailure.describe(error)
    }
}

/// The checkpoint a `--step`/`--best`/`--latest` option means; resolved in MoontuneManage. Named
/// here too for the tests that import this module.
typealias CheckpointChoice = MoontuneManage.CheckpointChoice
