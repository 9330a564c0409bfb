import ArgumentParser
import Foundation
import MoontuneManage

/// `moontune compare CONFIG [--steps S1,S2,...] [--base]`: did training help?
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Score the base model and saved checkpoints on the eval set with the job's rewards.",
        discussion: """
            Every chosen model answers the same examples through the inference endpoints (under the job's \
            concurrency bound, with retries), and the answers are scored with the job's reward functions. Prints a \
            table: rows are models, columns the mean reward per skill, the overall mean and n; the best value of each \
            column is marked. The result is recorded in the database.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @Option(help: "Checkpoint steps to compare, comma-separated; `latest` and `best` are accepted (default: every saved one).")
    var steps: String?

    @Flag(help: "Also score the base model.")
    var base = false

    @Option(help: "Which examples: eval (default when the config has an eval set) or train.")
    var set: String?

    @Option(name: .customLong("max-examples"), help: "How many examples (default: eval.max_examples, else 50).")
    var maxExamples: Int?

    @Option(help: "Also write an HTML page: the table, and each example drawn for the first model against the last.")
    var html: String?

    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    @OptionGroup var database: DatabaseOption

    func validate() throws {
        if json && csv { throw ValidationError("give --json or --csv, not both") }
        if let set, set != "eval" && set != "train" { throw ValidationError("--set must be eval or train") }
        if let maxExamples, maxExamples < 1 { throw ValidationError("--max-examples must be at least 1") }
        _ = try requestedSteps()
    }

    /// `--steps` parsed: numbers, `latest`, `best`.
    func requestedSteps() throws -> [CheckpointChoice]? {
        guard let steps else { return nil }
        return try steps.split(separator: ",").map { token in
            let word = token.trimmingCharacters(in: .whitespaces)
            switch word {
            case "latest": return .latest
            case "best": return .best
            default:
                guard let step = Int(word), step >= 1 else {
                    throw ValidationError("--steps takes step numbers, `latest` or `best`, comma-separated; got \(word)")
                }
                return .step(step)
            }
        }
    }

    func run() async throws {
        try await CommandEdge.run {
            let result = try await Comparison.run(Comparison.Request(
                configPath: config, steps: try requestedSteps(), base: base, set: set, maxExamples: maxExamples,
                databasePath: database.path))
            if let html {
                try await Comparison.writePage(html, result: result)
                FileHandle.standardError.write(Data("wrote \(URL(fileURLWithPath: html).standardizedFileURL.path)\n".utf8))
            }
            if json {
                print(try result.table.json(job: result.job, dataset: result.datasetLabel, examples: result.examples))
            } else if csv {
                print(result.table.csv())
            } else {
                print("job \(result.job): \(result.examples) \(result.setName) examples")
                print(result.table.text())
            }
        }
    }
}
