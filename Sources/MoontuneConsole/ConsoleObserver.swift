import Foundation
import Logging
import MoondreamAPI
import MoontuneDecisions
import MoontuneLoop
import MoontuneStore
import Synchronization
import MoontuneReport

/// How much `run` says.
public enum Verbosity: Int, Sendable, Comparable {
    case quiet, normal, verbose
    public static func < (lhs: Verbosity, rhs: Verbosity) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Shows a run's progress: on a terminal, one live line with notable events printed above it;
/// elsewhere (a pipe, a log file), one structured line per step and per event.
public final class ConsoleObserver: RunObserver, Sendable {
    package struct State {
        var job = ""
        var total = 0
        var step = 0
        var stepsThisRun = 0
        var runStart = ContinuousClock.now
        var recentMeans: [Double] = []
        var lastMean: Double?
        var limiter: InFlightLimiter?
        var retriesSinceNotice = 0
        var lastRetryNotice = ContinuousClock.now
        /// The train_step in flight, which a graceful stop sees through.
        var trainInFlight: Int?
        /// Until when that train_step backs off (after a 429 or a refused connection): meanwhile
        /// it is not in flight, and a stop ends the backoff.
        var trainBackoffUntil: Date?
        /// Set by `finished`: the live line has been written for good and is not redrawn.
        var done = false
        /// The training warnings, logged when they appear and when they clear.
        var warnings = WarningTracker()
    }

    package let interactive: Bool
    package let format: LogFormat
    package let verbosity: Verbosity
    package let redactor: SecretRedactor
    private let state: Mutex<State>
    /// The terminal's lines (the live line, the notices above it) and, through `logger`, the
    /// structured lines: both leave through this one redacting sink.
    private let sink: RedactingSink
    /// The structured lines, through swift-log (`StructuredLogHandler`).
    private let logger: Logger

    /// - Parameters:
    ///   - job: the job's name, for the lines written before the loop reports it (a failure to
    ///     create the finetune, say).
    ///   - redactor: masks secrets in every line; by default, the credentials in the environment.
    public init(interactive: Bool, format: LogFormat, verbosity: Verbosity, job: String? = nil,
                redactor: SecretRedactor = .fromEnvironment(),
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.interactive = interactive
        self.format = format
        self.verbosity = verbosity
        self.redactor = redactor
        var initial = State()
        initial.job = job ?? ""
        self.state = Mutex(initial)
        let sink = RedactingSink(redactor: redactor, output: write)
        self.sink = sink
        var logger = Logger(label: "moontune.console") { _ in StructuredLogHandler(format: format, sink: sink) }
        logger.logLevel = .trace
        self.logger = logger
    }

    /// Every line leaves through the sink, so none can carry a secret.
    private func write(_ text: String) {
        sink.write(text)
    }

    public func record(_ event: RunEvent) {
        switch event {
        case let .started(job, finetuneID, resumedAt, totalSteps, _):
            state.withLock {
                $0.job = job
                $0.total = totalSteps
                $0.step = resumedAt
                $0.runStart = .now
            }
            notice("job \(job): finetune \(finetuneID), step \(resumedAt) of \(totalSteps)",
                   [("event", .string("started")), ("finetune_id", .string(finetuneID)), ("step", .int(resumedAt)), ("total", .int(totalSteps))])
        case .attached(let limiter):
            state.withLock { $0.limiter = limiter }
        case let .stepApplied(step, total, statistics):
            let mean = statistics.rewards?.mean
            state.withLock { state in
                state.step = step
                state.total = total
                state.stepsThisRun += 1
                state.lastMean = mean
                if let mean { state.recentMeans = Array((state.recentMeans + [mean]).suffix(10)) }
            }
            defer { logWarnings(state.withLock { $0.warnings.stepApplied(step: step, statistics: statistics) }) }
            if interactive {
                if verbosity >= .verbose {
                    notice(Self.describe(step: step, statistics), [])
                }
                redraw()
            } else if verbosity >= .normal || step == total {
                var fields: [(String, LogLine.Value)] = [("event", .string("step")), ("step", .int(step)), ("total", .int(total))]
                if let rewards = statistics.rewards {
                    fields += [("reward_mean", .double(rewards.mean)), ("reward_std", .double(rewards.std))]
                }
                fields += [("constant_groups", .double(statistics.constantGroupFraction)), ("retries", .int(statistics.totalRetries))]
                if let wall = statistics.wallMs { fields.append(("wall_ms", .double(wall))) }
                if statistics.reconciled { fields.append(("reconciled", .bool(true))) }
                if let signal = statistics.signal {
                    fields += [("groups_tried", .int(signal.tried)), ("groups_kept", .int(signal.kept))]
                    if signal.skipped { fields.append(("skipped", .bool(true))) }
                }
                if let rate = statistics.truncationRate { fields.append(("truncation_rate", .double(rate))) }
                emit(fields)
            }
        case let .checkpointSaved(step, checkpointID, kind):
            notice("checkpoint saved at step \(step) (\(kind.rawValue))",
                   [("event", .string("checkpoint")), ("step", .int(step)), ("checkpoint_id", .string(checkpointID)), ("kind", .string(kind.rawValue))])
        case .checkpointDeleted(let step):
            notice("checkpoint \(step) deleted", [("event", .string("checkpoint_deleted")), ("step", .int(step))])
        case let .evalRecorded(step, summary):
            defer {
                logWarnings(state.withLock { $0.warnings.evalRecorded(step: step, rewardMean: summary.rewardMean, count: summary.count) })
            }
            let skills = summary.perSkill.sorted { $0.key < $1.key }.map { "\($0.key) \(Self.format($0.value.mean))" }.joined(separator: ", ")
            notice("eval at step \(step): reward \(Self.format(summary.rewardMean)) over \(summary.count) examples (\(skills))",
                   [("event", .string("eval")), ("step", .int(step)), ("reward_mean", .double(summary.rewardMean)), ("n", .int(summary.count))])
        case let .reconciled(step, message):
            var fields: [(String, LogLine.Value)] = [("event", .string("reconciled")), ("message", .string(message))]
            if let step { fields.insert(("step", .int(step)), at: 1) }
            notice("reconciled: \(message)", fields, force: true)
        case .retry(let retry):
            if retry.endpoint.hasSuffix("/train_step") {
                state.withLock { $0.trainBackoffUntil = retry.nextAttemptAt }
            }
            handleRetry(retry)
        case .waiting(let wait):
            var fields: [(String, LogLine.Value)] = [("event", .string("waiting")), ("what", .string(wait.what)),
                                                     ("endpoint", .string(wait.endpoint)), ("reason", .string(wait.reason))]
            if wait.attempt > 0 { fields += [("attempt", .int(wait.attempt)), ("max_attempts", .int(wait.maxAttempts))] }
            if let next = wait.nextAttemptAt { fields.append(("next_attempt_in_s", .double(max(0, next.timeIntervalSinceNow)))) }
            if let end = wait.givesUpAt { fields.append(("gives_up_at", .string(LogLine.timestamp(end)))) }
            fields.append(("message", .string(wait.describe())))
            notice(wait.describe(), fields, level: "warn")
        case let .waitOver(wait, after):
            let text = "the API answers again (\(wait.what), \(wait.endpoint)) after \(Self.formatDuration(seconds: after)) of waiting"
            notice(text, [("event", .string("wait_over")), ("what", .string(wait.what)), ("endpoint", .string(wait.endpoint)),
                          ("waited_s", .double(after)), ("message", .string(text))])
        case .trainStep(let step):
            state.withLock {
                $0.trainInFlight = step
                $0.trainBackoffUntil = nil
            }
        case .stopping(let reason):
            notice("stopping: \(reason)", [("event", .string("stopping")), ("reason", .string(reason))], force: true)
        case let .finished(state, step, error):
            var fields: [(String, LogLine.Value)] = [("event", .string("finished")), ("state", .string(state.rawValue)), ("step", .int(step))]
            if let error { fields.append(("error", .string(error))) }
            let text = error.map { "job \(state.rawValue) at step \(step): \($0)" } ?? "job \(state.rawValue) at step \(step)"
            if interactive {
                // The live line stays on screen as the run's last progress, with the outcome below it.
                let line = self.state.withLock { state -> String in
                    state.done = true
                    return liveLine(state)
                }
                write("\r\u{1B}[2K" + (verbosity >= .normal ? line + "\n" : "") + text + "\n")
            } else {
                emit(fields, level: error == nil ? "info" : "error")
            }
        case .notice(let message):
            notice(message, [("event", .string("notice")), ("message", .string(message))])
        }
    }

    /// One line for each training warning that appeared, and one for each that cleared.
    private func logWarnings(_ change: WarningTracker.Change) {
        for warning in change.appeared {
            notice("warning: \(warning.message)", [("event", .string("warning")), ("kind", .string(warning.kind)),
                                                   ("message", .string(warning.message))], level: "warn")
        }
        for warning in change.cleared {
            notice("warning cleared: \(warning.message)", [("event", .string("warning_cleared")), ("kind", .string(warning.kind)),
                                                           ("message", .string(warning.message))])
        }
    }

    /// Says what a graceful stop does now: sees the train_step in flight through, or stops at once.
    public func stopRequested(by signal: String) {
        let step = state.withLock { state -> Int? in
            if let until = state.trainBackoffUntil, until > Date() { return nil }
            return state.trainInFlight
        }
        let reason = step.map { "\(signal) received: finishing step \($0) in flight, then stopping (send it again to stop at once)" }
            ?? "\(signal) received: no step in flight: stopping now"
        record(.stopping(reason: reason))
    }

    /// Redraws the live line (called on each step and by a ticker for the in-flight count).
    public func tick() {
        if interactive { redraw() }
    }

    private func handleRetry(_ retry: RetryEvent) {
        if !interactive {
            // Waits are logged once and then every 30 s (`.waiting`); each retry only when verbose.
            if verbosity >= .verbose {
                let delayMs = Double(retry.delay.components.seconds) * 1000 + Double(retry.delay.components.attoseconds) / 1e15
                emit([("event", .string("retry")), ("endpoint", .string(retry.endpoint)), ("reason", .string(retry.reason)),
                      ("attempt", .int(retry.attempt)), ("delay_ms", .double(delayMs))], level: "warn")
            }
            return
        }
        // On a terminal, retries are summarised: a storm is worth one line, not fifty.
        guard verbosity >= .verbose else { return }
        let storm = state.withLock { state -> Int? in
            state.retriesSinceNotice += 1
            if state.retriesSinceNotice >= 5 && ContinuousClock.now - state.lastRetryNotice > .seconds(10) {
                defer { state.retriesSinceNotice = 0; state.lastRetryNotice = .now }
                return state.retriesSinceNotice
            }
            return nil
        }
        if let storm {
            notice("retrying: \(storm) retries recently (last: \(retry.endpoint) \(retry.reason))", [])
        } else if verbosity >= .verbose {
            notice("retry \(retry.endpoint) after \(retry.reason) (attempt \(retry.attempt))", [])
        }
    }

    private func notice(_ text: String, _ fields: [(String, LogLine.Value)], force: Bool = false, level: String = "info") {
        guard force || verbosity >= .normal else { return }
        if interactive {
            write("\r\u{1B}[2K" + text + "\n")
            redraw()
        } else if !fields.isEmpty {
            emit(fields, level: level)
        }
    }

    private func emit(_ fields: [(String, LogLine.Value)], level: String = "info") {
        let job = state.withLock { $0.job }
        logger.log(level: StructuredLogHandler.level(named: level), "",
                   metadata: ["job": .string(job), LogFields.key: .stringConvertible(LogFields(fields: fields))])
    }

    private func redraw() {
        guard verbosity >= .normal else { return }
        let line = state.withLock { state -> String? in state.done ? nil : liveLine(state) }
        if let line { write("\r\u{1B}[2K" + Self.fit(line, columns: Self.terminalColumns())) }
    }

    /// A line longer than the terminal would wrap, and `\r` would then redraw only its last row.
    package static func fit(_ line: String, columns: Int?) -> String {
        guard let columns, columns > 1, line.count >= columns else { return line }
        return String(line.prefix(columns - 1))
    }

    /// The terminal's width, asked each time so that a resized window is followed.
    package static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    private func liveLine(_ state: State) -> String {
        Self.liveLine(step: state.step, total: state.total, lastMean: state.lastMean, recent: state.recentMeans,
                      stepsThisRun: state.stepsThisRun, elapsed: ContinuousClock.now - state.runStart,
                      inFlight: state.limiter?.inFlight, limit: state.limiter?.limit)
    }

    /// `step 12/40 [#####.....] reward 0.61 (avg 0.55)  4.2 steps/min  ETA 6m40s  in flight 8/8`
    package static func liveLine(step: Int, total: Int, lastMean: Double?, recent: [Double], stepsThisRun: Int, elapsed: Duration,
                         inFlight: Int?, limit: Int?) -> String {
        let width = 20
        let filled = total > 0 ? min(width, step * width / total) : 0
        var line = "step \(step)/\(total) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
        if let lastMean {
            line += " reward \(format(lastMean))"
            if !recent.isEmpty { line += " (avg \(format(recent.reduce(0, +) / Double(recent.count))))" }
        }
        let minutes = Double(elapsed.components.seconds) / 60 + Double(elapsed.components.attoseconds) / 6e19
        if stepsThisRun > 0 && minutes > 0 {
            let rate = Double(stepsThisRun) / minutes
            line += String(format: "  %.1f steps/min", rate)
            if rate > 0 && total > step {
                line += "  ETA " + formatDuration(seconds: Double(total - step) / rate * 60)
            }
        }
        if let inFlight, let limit { line += "  in flight \(inFlight)/\(limit)" }
        return line
    }

    package static func describe(step: Int, _ statistics: StepStatistics) -> String {
        var text = "step \(step): reward \(statistics.rewards.map { format($0.mean) } ?? "-")"
        if let signal = statistics.signal, signal.skipped {
            text += ", skipped (no group with signal in \(signal.tried) tried)"
        } else if let signal = statistics.signal, signal.dropped > 0 {
            text += ", \(signal.kept) groups kept of \(signal.tried)"
        }
        if let wall = statistics.wallMs { text += String(format: ", %.0f ms", wall) }
        if statistics.totalRetries > 0 { text += ", \(statistics.totalRetries) retries" }
        return text
    }

    package static func format(_ value: Double) -> String { String(format: "%.3f", value) }

    public static func formatDuration(seconds: Double) -> String {
        ReportText.duration(seconds: seconds)
    }
}
