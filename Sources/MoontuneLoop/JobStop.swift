import Foundation
import MoontuneStore

/// The stop protocol (issue 21: out of the CLI, into a library): how a job is asked to stop,
/// however it runs, and how its end is awaited.
///
/// - A job waiting in `serve`'s queue leaves the queue (`stopped`; `submit` queues it again).
/// - A job that `serve` runs is stopped through the database (the daemon polls for stop requests);
///   a signal to the daemon's pid would stop every job it runs, so `force` is refused for it.
/// - A job that `run` or `start` runs gets SIGTERM (SIGKILL with `force`), on this host only, and
///   only while its lock is held: a recorded pid may since have been given to another process.
public enum JobStop {
    /// What asking did.
    public enum Asked: Sendable, Equatable {
        case dequeued(step: Int)
        case notRunning(state: JobState, step: Int)
        /// Recorded running, but its process is gone (its lock is free).
        case interrupted(step: Int)
        case askedServe(pid: Int32)
        case signalled(pid: Int32, force: Bool)
    }

    /// Why the job could not be asked.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// How the job ended, once its lock was free.
    public struct Ended: Sendable, Equatable {
        public var state: JobState
        public var step: Int
    }

    public static func ask(name: String, databasePath: String, force: Bool) async throws -> Asked {
        let store = try ProgressStore(path: databasePath, readOnly: true)
        guard let found = try await store.job(named: name), let jobID = found.id else {
            throw Refusal(description: "no job named \(name) in \(databasePath)")
        }
        if found.state == .queued, try await ProgressStore.shared(path: databasePath).dequeue(jobID: jobID, now: ProgressStore.nowMs()) {
            return .dequeued(step: try await store.lastAppliedStep(jobID: jobID))
        }
        let job = try await store.job(named: name) ?? found
        guard job.state == .running, let pid = job.pid else {
            return .notRunning(state: job.state, step: try await store.lastAppliedStep(jobID: jobID))
        }
        guard job.host == ProcessInfo.processInfo.hostName else {
            throw Refusal(description: "job \(name) runs on \(job.host ?? "another host"); stop it there")
        }
        guard JobLock.isHeld(databasePath: databasePath, jobName: name) else {
            return .interrupted(step: try await store.lastAppliedStep(jobID: jobID))
        }
        if try await store.isDaemon(pid: pid, host: job.host ?? "") {
            guard !force else { throw Refusal(description: "job \(name) runs in serve (pid \(pid)); --force would kill every job it runs") }
            try await ProgressStore.shared(path: databasePath).requestStop(jobID: jobID, now: ProgressStore.nowMs())
            return .askedServe(pid: pid)
        }
        guard kill(pid, force ? SIGKILL : SIGTERM) == 0 else {
            throw Refusal(description: "cannot signal pid \(pid): \(String(cString: strerror(errno)))")
        }
        return .signalled(pid: pid, force: force)
    }

    /// Waits until the job's lock is free (the runner records how it ended before it exits), at
    /// most `timeout`; nil when it did not stop in time.
    public static func waitForEnd(name: String, databasePath: String, timeout: Duration) async throws -> Ended? {
        let store = try ProgressStore(path: databasePath, readOnly: true)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            guard !JobLock.isHeld(databasePath: databasePath, jobName: name) else { continue }
            guard let job = try await store.job(named: name), let id = job.id else { return nil }
            return Ended(state: job.state, step: try await store.lastAppliedStep(jobID: id))
        }
        return nil
    }
}
