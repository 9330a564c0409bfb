import ArgumentParser
import Foundation
import MoontuneStore

/// `moontune bench-history --db PATH` (hidden): a synthetic history of finished jobs in a state
/// database, for the benchmark of `serve`'s pages over a long history (issue 21).
struct BenchHistoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-history",
        abstract: "Write a synthetic history of finished jobs into a state database (for the benchmark).",
        shouldDisplay: false)

    @OptionGroup var database: DatabaseOption

    @Option(help: "Finished jobs to add.")
    var jobs = 60

    @Option(help: "Applied steps of each.")
    var steps = 100

    func validate() throws {
        guard (1...100_000).contains(jobs) else { throw ValidationError("--jobs must be from 1 to 100000") }
        guard (1...1_000_000).contains(steps) else { throw ValidationError("--steps must be from 1 to 1000000") }
    }

    func run() async throws {
        let store = try ProgressStore(path: database.path)
        try await store.writeSyntheticHistory(jobs: jobs, steps: steps)
        print("added \(jobs) finished jobs of \(steps) steps to \(database.path)")
    }
}
