import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneReport
import MoontuneStore
import NIOPosix

/// `moontune sweep status NAME [--db PATH] [--json]`.
struct SweepStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A sweep's variants ranked by its metric: params, state, step, best value and step, model; rollouts spent and saved.")

    @Argument(help: "The sweep's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Flag(help: "JSON: {\"sweep\", \"metric\", \"best\", \"jobs\": [...]}, ranked best first.")
    var json = false

    func run() async throws {
        let (store, sweep) = try await database.openSweep(named: name)
        let report = try await SweepStatusReport.load(sweep, store: store)
        print(json ? report.json() : report.text())
    }
}

/// `moontune sweep report NAME [--db PATH] --out FILE`.
struct SweepReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page of a sweep: the metric of every variant by step, the ranking, the winner.")

    @Argument(help: "The sweep's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "The HTML file to write.")
    var out: String = "sweep.html"

    func run() async throws {
        let (store, sweep) = try await database.openSweep(named: name)
        let report = try await SweepStatusReport.load(sweep, store: store)
        var gallery: EvalGallery?
        if let best = report.best, let job = try await store.job(named: best.name), let id = job.id {
            let evals = try await store.evals(jobID: id)
            if let source = try await EvalGallery.Source.load(jobID: id, evals: evals, store: store) {
                gallery = try await NIOThreadPool.singleton.runIfActive { source.build() }  // reads and draws images
            }
        }
        let html = SecretRedactor.fromEnvironment().redact(SweepReportHTML.render(report, gallery: gallery, generatedAtMs: ProgressStore.nowMs()))
        do {
            try Data(html.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("moontune: cannot write \(out): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        print("wrote \(URL(fileURLWithPath: out).standardizedFileURL.path)")
    }
}

extension DatabaseOption {
    /// Opens the database read-only and finds the sweep `name`; a missing database or sweep
    /// becomes one clear line on standard error and exit code 1.
    func openSweep(named name: String) async throws -> (store: ProgressStore, sweep: SweepRecord) {
        do {
            let store = try ProgressStore(path: path, readOnly: true)
            guard let sweep = try await store.sweep(named: name) else {
                FileHandle.standardError.write(Data("moontune: no sweep named \(name) in \(path)\n".utf8))
                throw ExitCode(1)
            }
            return (store, sweep)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
