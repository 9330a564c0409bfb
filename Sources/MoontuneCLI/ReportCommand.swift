import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport
import NIOPosix

/// `moontune report NAME --out report.html`: one self-contained HTML file with the job's charts.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report of a job: charts, checkpoints and config.",
        discussion: """
            Charts of the reward mean ± std per step, the lr, the eval reward, the fraction of constant groups and the \
            step time, as inline SVG; the latest eval's metrics per skill; and a gallery of eval examples (each image \
            with its ground truth and prediction drawn, at the first and the latest eval, the most improved and the most \
            regressed first) as small embedded JPEGs. The file has no scripts and loads nothing from the network. Reads \
            the state database and the eval images only.
            """)

    @Argument(help: "The job's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "The HTML file to write.")
    var out: String = "report.html"

    func run() async throws {
        let (store, job) = try await database.openJob(named: name)
        let html = try await Self.render(job, store: store, databasePath: database.path)
        do {
            try Data(html.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("moontune: cannot write \(out): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        print("wrote \(URL(fileURLWithPath: out).standardizedFileURL.path)")
    }

    /// The report of one job, as HTML text, with any credential of the environment masked.
    static func render(_ job: JobRecord, store: ProgressStore, databasePath: String, now: Int64 = ProgressStore.nowMs()) async throws -> String {
        let series = try await store.stepSeries(jobID: job.id ?? 0)
        let report = try await JobStatusReport.load(job, store: store, databasePath: databasePath, now: now, series: series)
        let evals = try await store.evals(jobID: job.id ?? 0)
        var data = ReportData(report: report, configJSON: job.configJSON, series: series, evals: evals, generatedAtMs: now)
        data.comparisons = try await store.comparisons(jobName: job.name)
        data.lrSeries = try await store.lrSeries(jobID: job.id ?? 0)
        if let source = try await EvalGallery.Source.load(jobID: job.id ?? 0, evals: evals, store: store) {
            data.gallery = try await NIOThreadPool.singleton.runIfActive { source.build() }  // reads and draws images
        }
        return SecretRedactor.fromEnvironment().redact(ReportHTML.render(data))
    }
}
