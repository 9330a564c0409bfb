import Foundation

/// Whether a job's runner is alive, decided in one place (issue 21) for `status`, `serve`'s
/// `/metrics`, `/api/jobs` and the dashboard: the state to show is `interrupted` when the record
/// says running but the runner is gone (a stale heartbeat; on this host, the lock not held or the
/// pid gone).
public enum JobLiveness {
    /// A heartbeat older than this means the runner is not making progress.
    public static let staleAfterMs: Int64 = 30_000

    public static func displayedState(_ job: JobRecord, databasePath: String, now: Int64) -> String {
        displayedState(name: job.name, state: job.state, heartbeatMs: job.heartbeatMs, host: job.host, pid: job.pid,
                       databasePath: databasePath, now: now)
    }

    public static func displayedState(_ head: JobHead, databasePath: String, now: Int64) -> String {
        displayedState(name: head.name, state: head.state, heartbeatMs: head.heartbeatMs, host: head.host, pid: head.pid,
                       databasePath: databasePath, now: now)
    }

    static func displayedState(name: String, state: JobState, heartbeatMs: Int64?, host: String?, pid: Int32?,
                               databasePath: String, now: Int64) -> String {
        guard state == .running else { return state.rawValue }
        let stale = heartbeatMs.map { now - $0 > staleAfterMs } ?? true
        if stale { return "interrupted" }
        if host == ProcessInfo.processInfo.hostName {
            // On this machine the lock tells for sure; a pid alone could have been reused.
            if !JobLock.isHeld(databasePath: databasePath, jobName: name) { return "interrupted" }
            if let pid, kill(pid, 0) != 0 && errno == ESRCH { return "interrupted" }
        }
        return "running"
    }
}

