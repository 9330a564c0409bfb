import ArgumentParser
import Foundation
import MoontuneStore
import MoontuneReport

/// `moontune status [NAME]`: reads the database only. No API call, no key, never blocks the job.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what every job (or one) is doing, from the state database alone.")

    @Argument(help: "A job name. Without it, one line per job.")
    var name: String?

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Print the JSON document of CONTRACT.md (stable for scripts).")
    var json = false

    @Flag(help: "Redraw every few seconds until interrupted.")
    var watch = false

    @Option(help: "Seconds between redraws with --watch.")
    var interval: Double = 2

    func run() async throws {
        guard FileManager.default.fileExists(atPath: database.path) || name != nil else {
            // No database yet is not an error for the overview: there are simply no jobs.
            print(json ? try StatusDocument(jobs: []).encoded() : "no jobs yet (no database at \(database.path))")
            return
        }
        let store = try database.openReadOnly()
        repeat {
            let text = try await render(store)
            if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            print(text)
            if watch {
                print("\n(every \(Self.formatInterval(interval)); Ctrl-C to quit)")
                fflush(nil)
                try await Task.sleep(for: .milliseconds(Int(max(0.2, interval) * 1000)))
            }
        } while watch
    }

    static func formatInterval(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }

    func render(_ store: ProgressStore) async throws -> String {
        var jobs = try await store.allJobs()
        if let name {
            jobs = jobs.filter { $0.name == name }
            guard !jobs.isEmpty else {
                FileHandle.standardError.write(Data("moontune: no job named \(name) in \(database.path)\n".utf8))
                throw ExitCode(1)
            }
        }
        var reports: [JobStatusReport] = []
        for job in jobs {
            reports.append(try await JobStatusReport.load(job, store: store, databasePath: database.path))
        }
        if json {
            return try StatusDocument(jobs: reports, budget: try await store.keyBudgets().nilIfEmpty,
                                  paces: try await store.keyPaces().nilIfEmpty).encoded()
        }
        if name != nil, let report = reports.first {
            let events = try await store.events(jobID: jobs.first?.id ?? 0, limit: 8)
            return StatusText.detail(report, events: events)
        }
        let budgets = KeyBudgetText.lines(try await store.keyBudgets(), nowMs: ProgressStore.nowMs())
        let paces = KeyPaceText.lines(try await store.keyPaces(), nowMs: ProgressStore.nowMs())
        return ([StatusText.table(reports)] + budgets + paces).joined(separator: "\n")
    }
}

