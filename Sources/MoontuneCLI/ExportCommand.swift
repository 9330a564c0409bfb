import ArgumentParser
import Foundation
import MoontuneStore
import MoontuneReport

/// `moontune export NAME`: the job's per-step and eval metrics as CSV or JSON Lines, for pandas
/// and spreadsheets. Reads the state database only.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a job's per-step and eval metrics (or, with --examples, its eval examples) as CSV or JSON Lines.",
        discussion: """
            One row per applied step (kind=step) and one per eval (kind=eval, after the step it was taken at). \
            Columns: \(MetricsRow.columns.joined(separator: ", ")). Empty (CSV) or null (JSONL) where a figure is absent.
            """)

    @Argument(help: "The job's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "csv or jsonl.")
    var format: MetricsFormat = .csv

    @Option(help: "The file to write (default: standard output).")
    var out: String?

    @Flag(help: ArgumentHelp("Write one row per eval example per eval instead.",
                             discussion: "Columns: \(EvalExamplesExport.columns.joined(separator: ", ")); prediction and truth are JSON."))
    var examples = false

    /// Steps read from the database at a time: the export's memory does not grow with the job.
    static let pageSize = 500

    func run() async throws {
        let (store, job) = try await database.openJob(named: name)
        let sink: FileHandle
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                FileHandle.standardError.write(Data("moontune: cannot write \(out)\n".utf8))
                throw ExitCode(1)
            }
            sink = handle
        } else {
            sink = FileHandle.standardOutput
        }
        defer { if out != nil { try? sink.close() } }
        if examples {
            let rows = try await EvalExamplesExport.write(jobID: job.id ?? 0, store: store, format: format) { sink.write(Data($0.utf8)) }
            if let out { print("wrote \(rows) eval example rows to \(out)") }
            return
        }
        let counts = try await Self.write(job: job, store: store, format: format) { text in sink.write(Data(text.utf8)) }
        if let out {
            print("wrote \(counts.steps) step rows and \(counts.evals) eval rows to \(out)")
        }
    }

    /// Streams the rows in step order, each eval after the step it was taken at; returns how many
    /// rows of each kind were written.
    static func write(job: JobRecord, store: ProgressStore, format: MetricsFormat,
                      to emit: (String) -> Void) async throws -> (steps: Int, evals: Int) {
        let jobID = job.id ?? 0
        let evals = try await store.evals(jobID: jobID)
        var nextEval = 0
        var steps = 0
        // Issue 24: a reward_<name> column per grader the job recorded.
        let graders = try await store.graderNames(jobID: jobID)
        if let header = format.header(graders: graders) { emit(header) }
        var after = 0
        while true {
            let page = try await store.appliedSteps(jobID: jobID, after: after, limit: pageSize)
            var text = ""
            var scores: [Int: [String: Double]] = [:]
            if !graders.isEmpty, let first = page.first, let last = page.last {
                scores = try await store.graderScores(jobID: jobID, steps: first.k...last.k)
            }
            for record in page {
                while nextEval < evals.count, evals[nextEval].step < record.k {
                    text += format.line(MetricsRow(eval: evals[nextEval]), graders: graders)
                    nextEval += 1
                }
                var row = MetricsRow(step: record)
                row.graderScores = scores[record.k] ?? [:]
                text += format.line(row, graders: graders)
                steps += 1
            }
            emit(text)
            guard let last = page.last, page.count == pageSize else { break }
            after = last.k
        }
        emit(evals[nextEval...].map { format.line(MetricsRow(eval: $0), graders: graders) }.joined())
        return (steps, evals.count)  // every eval is written: before a later step, or at the end
    }
}

extension MetricsFormat: ExpressibleByArgument {}
