import Foundation
import MoondreamAPI
import MoontuneStore
import ServiceLifecycle
import Synchronization

/// One wait on the API, as the log and `status` show it.
public struct APIWait: Sendable, Equatable {
    /// In words: "create the finetune", "rollouts", "train_step outcome in doubt".
    public var what: String
    /// For example `POST /tuning/rollouts`.
    public var endpoint: String
    public var since: Date
    /// Why, in words: "connection refused", "503", "429, Retry-After 20 s".
    public var reason: String
    /// The attempt that last failed (1-based); 0 for a wait that is not a retry.
    public var attempt: Int
    public var maxAttempts: Int
    public var nextAttemptAt: Date?
    /// When it gives up at the latest (for a retry: `api.give_up_after_s` after the first attempt).
    public var givesUpAt: Date?
    /// What happens at `givesUpAt` when it is not a retry, for the log line ("asks the server").
    public var atTheEnd: String?

    public init(what: String, endpoint: String, since: Date, reason: String, attempt: Int, maxAttempts: Int,
                nextAttemptAt: Date?, givesUpAt: Date?, atTheEnd: String? = nil) {
        self.what = what
        self.endpoint = endpoint
        self.since = since
        self.reason = reason
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.nextAttemptAt = nextAttemptAt
        self.givesUpAt = givesUpAt
        self.atTheEnd = atTheEnd
    }

    /// The wait a retry starts or continues.
    public init(_ event: RetryEvent, since: Date? = nil) {
        self.init(what: Self.what(endpoint: event.endpoint), endpoint: event.endpoint, since: since ?? event.at,
                  reason: event.waitReason, attempt: event.attempt, maxAttempts: event.maxAttempts,
                  nextAttemptAt: event.nextAttemptAt, givesUpAt: event.givesUpAt)
    }

    /// What a call to `endpoint` is for, in words.
    public static func what(endpoint: String) -> String {
        let parts = endpoint.split(separator: " ", maxSplits: 1)
        let method = parts.first.map(String.init) ?? ""
        let path = parts.count > 1 ? String(parts[1]) : endpoint
        switch (method, path) {
        case ("POST", "/tuning/finetunes"): return "create the finetune"
        case ("GET", "/tuning/finetunes"): return "list finetunes"
        case ("POST", "/tuning/rollouts"): return "rollouts"
        case ("POST", "/tuning/train_step"): return "train_step"
        case (_, let path) where path.hasSuffix("/checkpoints/save"): return "save a checkpoint"
        case ("GET", let path) where path.hasSuffix("/checkpoints"): return "list checkpoints"
        case ("DELETE", let path) where path.contains("/checkpoints/"): return "delete a checkpoint"
        case (_, let path) where path.hasSuffix("/metrics"): return "push metrics"
        case ("GET", let path) where path.hasPrefix("/tuning/finetunes/"): return "read the finetune"
        case ("DELETE", let path) where path.hasPrefix("/tuning/finetunes/"): return "delete the finetune"
        case (_, let path) where path.hasPrefix("/chat/completions (grader "): return "the judge of a model grader"  // issue 24
        default: return endpoint
        }
    }

    /// The record `status` reads.
    public var record: WaitRecord {
        WaitRecord(what: what, endpoint: endpoint, sinceMs: Self.ms(since), lastError: reason, attempt: attempt,
                   nextAttemptMs: nextAttemptAt.map(Self.ms), givesUpAtMs: givesUpAt.map(Self.ms))
    }

    /// The log line's words: "waiting for the API (create the finetune, POST /tuning/finetunes):
    /// connection refused; attempt 3 of 8, next in 2 s; gives up by 10:31:05 (in 14m52s)".
    public func describe(now: Date = Date()) -> String {
        var text = "waiting for the API (\(what), \(endpoint)): \(reason)"
        if attempt > 0 {
            text += "; attempt \(attempt) of \(maxAttempts)"
            if let next = nextAttemptAt { text += ", next in \(Self.span(next.timeIntervalSince(now)))" }
        }
        if let end = givesUpAt {
            let clock = Self.clockTime(end)
            text += "; " + (atTheEnd.map { "\($0) at \(clock)" } ?? "gives up by \(clock)")
            text += " (in \(Self.span(end.timeIntervalSince(now))))"
        }
        return text
    }

    static func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// "2 s", "0.5 s", "14m52s".
    static func span(_ seconds: Double) -> String {
        let seconds = max(0, seconds)
        if seconds < 10 {
            let tenths = (seconds * 10).rounded() / 10
            return tenths == tenths.rounded() ? "\(Int(tenths)) s" : "\(tenths) s"
        }
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
        return "\(total / 3600)h\(String(format: "%02d", (total % 3600) / 60))m"
    }

    static func clockTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: date)
    }
}

/// Decides when a wait is worth a log line: at its first retry, then at most once every
/// `interval` per endpoint, however many calls to it are retrying. A pure value with the clock
/// passed in, so tests never sleep.
struct WaitLogThrottle: Sendable {
    var interval: Duration = .seconds(30)
    private var lastLogged: [String: ContinuousClock.Instant] = [:]

    init(interval: Duration = .seconds(30)) {
        self.interval = interval
    }

    /// Whether to log the wait on `endpoint` now; if so, the time is remembered.
    mutating func shouldLog(endpoint: String, now: ContinuousClock.Instant) -> Bool {
        if let last = lastLogged[endpoint], now - last < interval { return false }
        lastLogged[endpoint] = now
        return true
    }
}

/// What one run is waiting on the API for, fed by the client's retry reports (`RetryReporting`)
/// and by the in-doubt window, and shown in the log (through the run's observer, throttled by
/// `WaitLogThrottle`) and in the record (`flush`, called about once a second).
///
/// A wait on an endpoint lasts while any call to it is retrying: it begins at a call's first
/// retry and ends when the last such call is settled (answered, or given up). `last_error` in the
/// record is the error of the wait shown; it is cleared when no wait is left, that is once the
/// calls that were retried have succeeded.
public final class WaitTracker: Sendable {
    struct Active {
        var wait: APIWait
        /// Calls to the endpoint retrying now.
        var calls: Int
    }

    struct State {
        var active: [String: Active] = [:]
        var hold: APIWait?
        var throttle: WaitLogThrottle
        var dirty = false
        var unflushedRetries = 0
        var lastError: String?
        /// The endpoint of the wait shown (the latest to change).
        var latest: String?
    }

    private let state: Mutex<State>
    private let observer: any RunObserver
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - logInterval: at most one log line per endpoint this often while a wait lasts.
    ///   - now: the clock of the throttle, injected so tests do not sleep.
    public init(observer: any RunObserver, logInterval: Duration = .seconds(30),
                now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.observer = observer
        self.now = now
        state = Mutex(State(throttle: WaitLogThrottle(interval: logInterval)))
    }

    /// A retry observer that feeds this tracker.
    ///
    /// Every retry is counted here, into the job's retries outside steps; once a step is recorded
    /// with its own retries, `recordedWithStep` moves them out again. So `status` (steps' retries
    /// plus the job's) counts every retry once, including those of rollouts a stop abandoned.
    public func retryObserver() -> RetryObserver {
        RetryObserver({ [self] event in retried(event) },
                      settled: { [self] endpoint, _, succeeded in settled(endpoint: endpoint, succeeded: succeeded) },
                      backoff: Self.stoppableBackoff)
    }

    /// Every backoff of a run ends at once on a graceful stop (a Retry-After of minutes included),
    /// wherever the call is: a train_step's too, which certainly did not land if it is backing off.
    @Sendable static func stoppableBackoff(_ delay: Duration, _ sleep: @escaping RetryObserver.Sleep) async throws {
        try await cancelWhenGracefulShutdown { try await sleep(delay) }
    }

    /// The wait shown now, if any.
    public var current: APIWait? {
        state.withLock { Self.shown($0) }
    }

    /// `count` retries are now recorded with a step, and no longer counted outside steps.
    public func recordedWithStep(_ count: Int) {
        guard count > 0 else { return }
        state.withLock { state in
            state.unflushedRetries -= count
            state.dirty = true
        }
    }

    func retried(_ event: RetryEvent) {
        let instant = now()
        let toLog = state.withLock { state -> APIWait? in
            var entry = state.active[event.endpoint] ?? Active(wait: APIWait(event), calls: 0)
            if event.attempt == 1 { entry.calls += 1 }
            entry.wait = APIWait(event, since: entry.wait.since)
            state.active[event.endpoint] = entry
            state.latest = event.endpoint
            state.lastError = "\(event.endpoint): \(entry.wait.reason)"
            state.dirty = true
            state.unflushedRetries += 1
            return state.throttle.shouldLog(endpoint: event.endpoint, now: instant) ? entry.wait : nil
        }
        if let toLog { observer.record(.waiting(toLog)) }
    }

    /// A call to `endpoint` that was retried has ended: answered 2xx (`succeeded`), or thrown.
    /// Only a success clears the last error.
    func settled(endpoint: String, succeeded: Bool) {
        let ended = state.withLock { state -> APIWait? in
            guard var entry = state.active[endpoint] else { return nil }
            entry.calls -= 1
            guard entry.calls <= 0 else {
                state.active[endpoint] = entry
                return nil
            }
            state.active.removeValue(forKey: endpoint)
            state.dirty = true
            guard succeeded else { return nil }
            if Self.shown(state) == nil { state.lastError = nil }
            return entry.wait
        }
        if let ended {
            observer.record(.waitOver(ended, after: max(0, Date().timeIntervalSince(ended.since))))
        }
    }

    /// Runs `body` (a wait that is not a retry, such as the in-doubt window) as a wait shown in
    /// the log and the record.
    public func holding<T>(_ wait: APIWait, _ body: () async throws -> T) async throws -> T {
        state.withLock { state in
            state.hold = wait
            state.dirty = true
        }
        observer.record(.waiting(wait))
        defer {
            state.withLock { state in
                state.hold = nil
                state.dirty = true
            }
        }
        return try await body()
    }

    /// Writes the wait to the record if it changed since the last write.
    public func flush(to store: any ProgressRecording, jobID: Int64, now: Int64 = ProgressStore.nowMs()) async throws {
        let snapshot = state.withLock { state -> (WaitRecord?, String?, Int)? in
            guard state.dirty else { return nil }
            state.dirty = false
            defer { state.unflushedRetries = 0 }
            return (Self.shown(state)?.record, state.lastError, state.unflushedRetries)
        }
        guard let (wait, lastError, retries) = snapshot else { return }
        do {
            try await store.recordWaiting(jobID: jobID, wait, lastError: lastError, retriesOutsideSteps: retries,
                                          now: now)
        } catch {
            // Try again at the next flush; the count is kept.
            state.withLock { state in
                state.dirty = true
                state.unflushedRetries += retries
            }
            throw error
        }
    }

    /// The in-doubt hold first (nothing else moves meanwhile), else the latest wait to change.
    private static func shown(_ state: State) -> APIWait? {
        if let hold = state.hold { return hold }
        if let latest = state.latest, let entry = state.active[latest] { return entry.wait }
        return state.active.values.max { $0.wait.since < $1.wait.since }?.wait
    }
}
