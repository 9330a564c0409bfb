import ArgumentParser
import Foundation
import MoontuneJob
import MoontuneLoop
import MoontuneStore

/// `moontune sweep FILE`, `sweep status NAME`, `sweep report NAME` (issue 25).
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Submit a grid or random sweep of a base config as queued jobs; show or report a sweep.",
        discussion: """
            `moontune sweep FILE` validates the base config with every variant applied and queues one job per variant, \
            named <sweep name>-1, -2, ... in grid order; serve runs them. `moontune sweep status NAME` ranks them by the \
            sweep's metric; `moontune sweep report NAME --out FILE` writes one HTML page. See docs/operations.md.
            """,
        subcommands: [SweepSubmitCommand.self, SweepStatusCommand.self, SweepReportCommand.self],
        defaultSubcommand: SweepSubmitCommand.self)
}

/// `moontune sweep FILE [--db PATH] [--priority N]`.
struct SweepSubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Validate a sweep file and queue its jobs (the default: `moontune sweep FILE`).",
        discussion: """
            Nothing is queued unless every variant is valid; each problem names the sweep file, its line and the key. \
            Submitting the same sweep again changes nothing; a different sweep under a name already used is refused.
            """)

    @Argument(help: "The sweep file (JSON): name, base, grid or random, metric, prune.")
    var file: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "The jobs' priority under serve.")
    var priority: Int = 0

    func run() async throws {
        umask(0o077)
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let databasePath = URL(fileURLWithPath: database.path, relativeTo: cwd).standardizedFileURL.path
        let url = URL(fileURLWithPath: file, relativeTo: cwd).standardizedFileURL
        let spec: SweepSpec
        do throws(SweepError) {
            spec = try SweepSpec.load(from: url)
        } catch {
            for problem in error.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            FileHandle.standardError.write(Data("moontune: sweep not submitted (\(error.problems.count) problem(s)); nothing was queued\n".utf8))
            throw ExitCode(2)
        }
        // A sweep recorded under this name: the same one changes nothing, another is refused,
        // before its variants are compared with the jobs the recorded one made.
        if FileManager.default.fileExists(atPath: databasePath) {
            let recorded: SweepRecord?
            do {
                recorded = try await ProgressStore.shared(path: databasePath).sweep(named: spec.name)
            } catch {
                FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
                throw ExitCode(1)
            }
            if let recorded, recorded.digest == spec.digest { return Self.sayUnchanged(spec.name) }
            if recorded != nil { try Self.refuseConflict(spec.name, databasePath: databasePath) }
        }
        let admitted: AdmittedSweep
        do throws(SweepError) {
            admitted = try await SweepAdmission.admit(spec, databasePath: databasePath)
        } catch {
            for problem in error.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            FileHandle.standardError.write(Data("moontune: sweep not submitted (\(error.problems.count) problem(s)); nothing was queued\n".utf8))
            throw ExitCode(2)
        }
        let store: ProgressStore
        do {
            store = try await ProgressStore.shared(path: databasePath)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let now = ProgressStore.nowMs()
        let jobs = admitted.variants.map { (record: $0.admission.newRecord(now: now), paramsJSON: $0.paramsJSON) }
        let name = admitted.spec.name
        switch try await store.submitSweep(admitted.record(now: now), jobs: jobs, priority: priority, now: now) {
        case .submitted:
            print("queued sweep \(name): \(jobs.count) job\(jobs.count == 1 ? "" : "s") (priority \(priority)), metric \(admitted.spec.metric)"
                + (admitted.spec.prune.map { ", ASHA at steps \($0.rungs.map(String.init).joined(separator: ", ")) keeping \($0.keep)" } ?? ""))
            for variant in admitted.variants { print("  \(variant.jobName)  \(variant.paramsText)") }
        case .unchanged:
            Self.sayUnchanged(name)
        case .conflict:
            try Self.refuseConflict(name, databasePath: databasePath)
        case .jobNameTaken(let job):
            FileHandle.standardError.write(Data(("moontune: a job named \(job) already exists outside sweep \(name); nothing was queued. "
                + "Give the sweep another name.\n").utf8))
            throw ExitCode(1)
        }
    }

    static func sayUnchanged(_ name: String) {
        print("sweep \(name) is already submitted with these settings; nothing changed (moontune sweep status \(name))")
    }

    static func refuseConflict(_ name: String, databasePath: String) throws {
        FileHandle.standardError.write(Data(("moontune: a different sweep named \(name) is already recorded in \(databasePath); "
            + "nothing was queued. Give this sweep another name.\n").utf8))
        throw ExitCode(1)
    }
}
