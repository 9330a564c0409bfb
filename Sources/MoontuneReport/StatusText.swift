import Foundation
import MoondreamAPI
import MoontuneStore

/// The document `status --json` prints: `{"jobs": [...]}` as in CONTRACT.md.
package struct StatusDocument: Encodable {
    package var jobs: [JobStatusReport]
    /// The request budget `serve` holds per API key, by key id; absent without one.
    package var budget: [KeyBudgetRecord]?
    /// The pace in force per API key (issue 22), as `serve` and each `run` last wrote it, by key
    /// id; absent when none was written. Encoded as `key_paces`.
    package var paces: [KeyPaceRecord]?

    package init(jobs: [JobStatusReport], budget: [KeyBudgetRecord]? = nil, paces: [KeyPaceRecord]? = nil) {
        self.jobs = jobs
        self.budget = budget
        self.paces = paces
    }

    enum CodingKeys: String, CodingKey {
        case jobs, budget, paces = "key_paces"
    }

    package func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The human-readable forms of `status`.
package enum StatusText {
    package static func table(_ reports: [JobStatusReport]) -> String {
        guard !reports.isEmpty else { return "no jobs yet" }
        var rows = [["JOB", "STATE", "STEP", "REWARD", "CHECKPOINT", "HEARTBEAT"]]
        for report in reports {
            rows.append([
                report.name, report.state, "\(report.step)/\(report.totalSteps)",
                report.rewardMean.map { String(format: "%.3f", $0) } ?? "-",
                report.lastCheckpointStep.map(String.init) ?? "-",
                report.heartbeatAgeSeconds.map { ReportText.duration(seconds: $0) + " ago" } ?? "-",
            ])
        }
        return PlainTable.render(rows)
    }

    package static func detail(_ report: JobStatusReport, events: [EventRecord]) -> String {
        var lines: [String] = []
        lines.append("job \(report.name): \(report.state), step \(report.step) of \(report.totalSteps)")
        lines.append("  finetune   \(report.finetuneID ?? "-")   api \(report.baseURL)")
        if report.state == "running" || report.state == "interrupted" {
            var process = "  process    pid \(report.pid.map(String.init) ?? "-") on \(report.host ?? "-")"
            if let age = report.heartbeatAgeSeconds { process += ", heartbeat \(ReportText.duration(seconds: age)) ago" }
            lines.append(process)
        } else if let pid = report.pid {
            lines.append("  last run   pid \(pid) on \(report.host ?? "-")")
        }
        if let started = report.startedAtMs {
            var timing = "  started    \(date(started))"
            if report.state == "running" {
                timing += ", running for \(ReportText.duration(seconds: Double(ProgressStore.nowMs() - started) / 1000))"
            }
            if let rate = report.stepsPerMinute { timing += String(format: ", %.1f steps/min", rate) }
            if let eta = report.etaSeconds { timing += ", ETA \(ReportText.duration(seconds: eta))" }
            lines.append(timing)
        }
        if !report.rewardTrend.isEmpty {
            let last = report.rewardMean.map { String(format: "%.3f", $0) } ?? "-"
            let std = report.rewardStd.map { String(format: " ± %.3f", $0) } ?? ""
            lines.append("  reward     \(sparkline(report.rewardTrend))  last \(last)\(std)")
        }
        if let graders = report.graders, !graders.isEmpty {  // issue 24
            lines.append("  graders    " + graders.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.3f", $0.value) }
                .joined(separator: "  ") + "  (mean score at step \(report.step))")
        }
        if !report.perSkill.isEmpty { lines.append("  per skill  (last \(JobStatusReport.skillWindow) steps)") }
        for (skill, reward) in report.perSkill.sorted(by: { $0.key < $1.key }) {
            lines.append("    " + skill.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: " %.3f ± %.3f (n=%d)", reward.mean, reward.std, reward.n))
        }
        if let eval = report.lastEval {
            lines.append(String(format: "  eval       step %d: reward %.3f over %d examples", eval.step, eval.rewardMean, eval.n))
            for (skill, figures) in eval.perSkill.sorted(by: { $0.key < $1.key }) {
                lines.append("    " + skill.padding(toLength: 8, withPad: " ", startingAt: 0) + " " + EvalMetricsText.text(figures))
            }
            if let graders = eval.graders, !graders.isEmpty {  // issue 24
                lines.append("    graders  " + graders.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.3f", $0.value) }
                    .joined(separator: "  ") + "  (mean score over the eval)")
            }
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
        if let check = report.finalCheck {
            lines.append("  final check step \(check.step) was concluded \"never landed\" by waiting and may still land late: "
                + "before the job ends, the server's step is read again, from \(clock(check.afterMs)) on")
        }
        if let reason = report.stopReason, report.state == "stopped" {
            let why = switch reason {
            case "signal": "a signal (graceful stop)"
            case "budget": "its budget: raise budget.max_rollouts or budget.max_hours and run again to continue"
            case "pruned": "its sweep's pruning (a worse variant at a rung; submit it again to run it on)"
            default: reason
            }
            lines.append("  stopped    by \(why)")
        }
        if report.stopReason == "early_stop", report.state == "completed" {
            lines.append("  ended      early: the eval reward stopped improving (early_stop); the best checkpoint is kept")
        }
        if let budget = report.budget {
            lines.append("  budget     " + budget.line)
        }
        if let signal = report.groupSignal {
            lines.append("  signal     " + signal.line)
        }
        for tracker in report.trackers {
            // issue 23: how far each tracker is behind the record, and why.
            let behind = tracker.backlog == 0 ? "up to date" : "\(tracker.backlog) point\(tracker.backlog == 1 ? "" : "s") behind"
            if let failure = tracker.failure {
                // Given up on: retrying would not help, so it waits for the job's next run.
                lines.append("  tracking   \(tracker.tracker): failed, not retried: \(failure); \(behind) (through step "
                    + "\(tracker.deliveredThroughStep)); fix the config or credentials and run the job again")
                continue
            }
            lines.append("  tracking   \(tracker.tracker): \(behind) (through step \(tracker.deliveredThroughStep))"
                + (tracker.lastError.map { "; last error: \($0)" } ?? ""))
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
    package static func describe(_ wait: WaitRecord, now: Int64) -> String {
        var text = "for the API (\(wait.what), \(wait.endpoint)) since \(clock(wait.sinceMs))"
        text += " (\(ReportText.duration(seconds: Double(max(0, now - wait.sinceMs)) / 1000))): \(wait.lastError)"
        if wait.attempt > 0 { text += "; attempt \(wait.attempt)" }
        if let next = wait.nextAttemptMs {
            text += ", next in \(ReportText.duration(seconds: Double(max(0, next - now)) / 1000))"
        }
        if let end = wait.givesUpAtMs { text += "; " + (wait.attempt > 0 ? "gives up by " : "until ") + clock(end) }
        return text
    }

    package static func clock(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// ▁▂▃▄▅▆▇█ over the values' own range (at most 60 of the latest).
    package static func sparkline(_ values: [Double]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        let values = values.suffix(60)
        guard let low = values.min(), let high = values.max() else { return "" }
        let span = high - low
        return String(values.map { value in
            let index = span > 0 ? Int(((value - low) / span * Double(bars.count - 1)).rounded()) : bars.count / 2
            return bars[min(max(index, 0), bars.count - 1)]
        })
    }

    package static func date(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
