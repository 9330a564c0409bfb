import ArgumentParser
import Foundation
import MoontuneStore

/// The `moontune` command.
public struct Moontune: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "moontune",
        abstract: "Run reinforcement-learning fine-tuning jobs against the Moondream tuning API.",
        discussion: """
            A job is a JSON config plus a JSONL dataset. moontune loops rollouts → rewards → train_step with a hard \
            bound on requests in flight, saves checkpoints, and records its progress in SQLite so an interrupted \
            job resumes exactly where it stopped. See README.md and docs/.
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self,
            StartCommand.self,
            SubmitCommand.self,  // issue 13
            SweepCommand.self,  // issue 25
            ServeCommand.self,  // issue 13
            StopCommand.self,
            StatusCommand.self,
            ValidateCommand.self,
            GradeCommand.self,  // issue 24
            ImportCocoCommand.self,
            SimulateCommand.self,
            SampleDataCommand.self,
            CheckpointsCommand.self,
            ExportCommand.self,
            ReportCommand.self,
            FinetunesCommand.self,
            PredictCommand.self,
            CompareCommand.self,
            ProbeCommand.self,
            BenchDataCommand.self, BenchHistoryCommand.self,
        ])

    public init() {}
}

/// `--db`, shared by every command that reads or writes the state database.
struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: "The state database (default: $MOONTUNE_DB, else ./moontune.sqlite).")
    var db: String?

    var path: String {
        if let db { return db }
        if let fromEnvironment = ProcessInfo.processInfo.environment["MOONTUNE_DB"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        return "moontune.sqlite"
    }

    /// The database opened read-only for a command that only looks; a database that cannot be
    /// opened is one line on stderr and exit 1.
    func openReadOnly() throws -> ProgressStore {
        do {
            return try ProgressStore(path: path, readOnly: true)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

import Foundation
