import ArgumentParser
import Foundation
import MoontuneJob

/// `moontune validate CONFIG`: checks the config, every dataset line and every image header
/// without calling the API or needing a key.
public struct ValidateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a job's config, every dataset line and every image, without calling the API.",
        discussion: """
            Prints a summary of the data (examples per skill, image formats and sizes, steps per \
            epoch, the examples of step 1), or every problem found, one per line as \
            file:line: field: problem, and exits with status 2.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    public init() {}

    public func run() throws {
        let report = validateJob(configURL: URL(fileURLWithPath: config))
        for warning in report.warnings { Self.writeToStandardError("warning: \(warning)") }
        guard report.isValid else {
            for problem in report.problems { print(problem) }
            Self.writeToStandardError("\(report.problems.count) problem\(report.problems.count == 1 ? "" : "s") found; nothing was sent anywhere")
            throw ExitCode(2)
        }
        print(report.summary)
        print("ok: the job is valid")
    }

    /// One line on stderr, for warnings and counts that must not mix with the lines on stdout.
    static func writeToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
