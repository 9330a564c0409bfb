import ArgumentParser
import Foundation
import MoontuneStore

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
        let store: ProgressStore
        do {
            store = try ProgressStore(path: database.path, readOnly: true)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
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
            return try StatusDocument(jobs: reports, budget: try await store.keyBudgets().nilIfEmpty).encoded()  // budget: issue 13
        }
        if name != nil, let report = reports.first {
            let events = try await store.events(jobID: jobs.first?.id ?? 0, limit: 8)
            return StatusText.detail(report, events: events)
        }
        return StatusText.table(reports)
    }
}

/// The document `status --json` prints: `{"jobs": [...]}` as in CONTRACT.md.
struct StatusDocument: Encodable {
    var jobs: [JobStatusReport]
    /// The request budget `serve` holds per API key (issue 13), by key id; absent without one.
    var budget: [KeyBudgetRecord]? = nil

    func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The human-readable forms of `status`.
enum StatusText {
    static func table(_ reports: [JobStatusReport]) -> String {
        guard !reports.isEmpty else { return "no jobs yet" }
        var rows = [["JOB", "STATE", "STEP", "REWARD", "CHECKPOINT", "HEARTBEAT"]]
        for report in reports {
            rows.append([
                report.name, report.state, "\(report.step)/\(report.totalSteps)",
                report.rewardMean.map { String(format: "%.3f", $0) } ?? "-",
                report.lastCheckpointStep.map(String.init) ?? "-",
                report.heartbeatAgeSeconds.map { ConsoleObserver.formatDuration(seconds: $0) + " ago" } ?? "-",
            ])
        }
        return TextTable.render(rows)
    }

    static func detail(_ report: JobStatusReport, events: [EventRecord]) -> String {
        var lines: [String] = []
        lines.append("job \(report.name): \(report.state), step \(report.step) of \(report.totalSteps)")
        lines.append("  finetune   \(report.finetuneID ?? "-")   api \(report.baseURL)")
        if report.state == "running" || report.state == "interrupted" {
            var process = "  process    pid \(report.pid.map(String.init) ?? "-") on \(report.host ?? "-")"
            if let age = report.heartbeatAgeSeconds { process += ", heartbeat \(ConsoleObserver.formatDuration(seconds: age)) ago" }
            lines.append(process)
        } else if let pid = report.pid {
            lines.append("  last run   pid \(pid) on \(report.host ?? "-")")
        }
        if let started = report.startedAtMs {
            var timing = "  started    \(date(started))"
            if report.state == "running" {
                timing += ", running for \(ConsoleObserver.formatDuration(seconds: Double(ProgressStore.nowMs() - started) / 1000))"
            }
            if let rate = report.stepsPerMinute { timing += String(format: ", %.1f steps/min", rate) }
            if let eta = report.etaSeconds { timing += ", ETA \(ConsoleObserver.formatDuration(seconds: eta))" }
            lines.append(timing)
        }
        if !report.rewardTrend.isEmpty {
            let last = report.rewardMean.map { String(format: "%.3f", $0) } ?? "-"
            let std = report.rewardStd.map { String(format: " ± %.3f", $0) } ?? ""
            lines.append("  reward     \(sparkline(report.rewardTrend))  last \(last)\(std)")
        }
        if !report.perSkill.isEmpty { lines.append("  per skill  (last \(JobStatusReport.skillWindow) steps)") }
        for (skill, reward) in report.perSkill.sorted(by: { $0.key < $1.key }) {
            lines.append("    " + skill.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: " %.3f ± %.3f (n=%d)", reward.mean, reward.std, reward.n))
        }
        if let eval = report.lastEval {
            lines.append(String(format: "  eval       step %d: reward %.3f over %d examples", eval.step, eval.rewardMean, eval.n))
        }
        let live = report.checkpoints.filter { $0.deletedAtMs == nil }
        lines.append("  checkpoints \(live.count) saved" + (report.checkpoints.count > live.count ? ", \(report.checkpoints.count - live.count) deleted" : ""))
        for checkpoint in live.suffix(6) {
            lines.append("    step \(checkpoint.step)  \(checkpoint.model)")
        }
        if let server = report.serverStep {
            var line = "  server     step \(server)"
            if let train = report.lastTrain, !train.numbers.isEmpty {
                line += "   last train_step (step \(train.step)): "
                    + train.numbers.named.map { String(format: "%@ %.4g", $0.0, $0.1) }.joined(separator: ", ")
            }
            lines.append(line)
        }
        if let wait = report.waiting {
            lines.append("  waiting    " + StatusText.describe(wait, now: ProgressStore.nowMs()))
        }
        if let reason = report.stopReason, report.state == "stopped" {
            lines.append("  stopped    by \(reason == "signal" ? "a signal (graceful stop)" : reason)")
        }
        lines.append("  retries    \(report.retries)   reconciliations \(report.reconciliations)"
            + (report.pendingIntent.map { "   step \($0) \(report.pendingIntentState ?? "awaiting reconciliation")" } ?? ""))
        for warning in report.warnings {
            lines.append("  warning    \(warning)")
        }
        if let error = report.lastError {
            // In full: every line of it, indented under the heading.
            lines.append("  last error " + error.replacingOccurrences(of: "\n", with: "\n             "))
        }
        if !events.isEmpty {
            lines.append("  recent events")
            for event in events {
                lines.append("    \(date(event.atMs))  \(event.kind)\(event.step.map { " @\($0)" } ?? ""): \(event.message)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One line: "for the API (create the finetune, POST /tuning/finetunes) since 10:30:05 (12s):
    /// connection refused; attempt 4 of 8, next in 3s; gives up by 10:45:05".
    static func describe(_ wait: WaitRecord, now: Int64) -> String {
        var text = "for the API (\(wait.what), \(wait.endpoint)) since \(clock(wait.sinceMs))"
        text += " (\(ConsoleObserver.formatDuration(seconds: Double(max(0, now - wait.sinceMs)) / 1000))): \(wait.lastError)"
        if wait.attempt > 0 { text += "; attempt \(wait.attempt)" }
        if let next = wait.nextAttemptMs {
            text += ", next in \(ConsoleObserver.formatDuration(seconds: Double(max(0, next - now)) / 1000))"
        }
        if let end = wait.givesUpAtMs { text += "; " + (wait.attempt > 0 ? "gives up by " : "until ") + clock(end) }
        return text
    }

    static func clock(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// ▁▂▃▄▅▆▇█ over the values' own range (at most 60 of the latest).
    static func sparkline(_ values: [Double]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        let values = values.suffix(60)
        guard let low = values.min(), let high = values.max() else { return "" }
        let span = high - low
        return String(values.map { value in
            let index = span > 0 ? Int(((value - low) / span * Double(bars.count - 1)).rounded()) : bars.count / 2
            return bars[min(max(index, 0), bars.count - 1)]
        })
    }

    static func date(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
