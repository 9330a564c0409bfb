import ArgumentParser
import Foundation
import MoontuneStore

/// `moontune stop NAME`: SIGTERM to the job's runner, then wait for it to record `stopped`.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Ask a running job to stop gracefully and wait until it has.")

    @Argument(help: "The job's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Send SIGKILL instead: the job stops at once and the next run reconciles.")
    var force = false

    @Option(help: "Seconds to wait for the job to stop.")
    var timeout: Double = 120

    func run() async throws {
        let store = try database.openReadOnly()
        guard let found = try await store.job(named: name), let jobID = found.id else {
            FileHandle.standardError.write(Data("moontune: no job named \(name) in \(database.path)\n".utf8))
            throw ExitCode(1)
        }
        // issue 13: a job waiting in serve's queue leaves the queue (`submit` queues it again).
        if found.state == .queued, try await ProgressStore(path: database.path).dequeue(jobID: jobID, now: ProgressStore.nowMs()) {
            print("job \(name) was queued; taken out of the queue (stopped) at step \(try await store.lastAppliedStep(jobID: jobID))")
            return
        }
        let job = try await store.job(named: name) ?? found
        guard job.state == .running, let pid = job.pid else {
            print("job \(name) is not running (\(job.state.rawValue)) at step \(try await store.lastAppliedStep(jobID: jobID))")
            return
        }
        guard job.host == ProcessInfo.processInfo.hostName else {
            FileHandle.standardError.write(Data("moontune: job \(name) runs on \(job.host ?? "another host"); stop it there\n".utf8))
            throw ExitCode(1)
        }
        // The lock, not the pid, says whether the runner is alive: a recorded pid may since have
        // been given to some other process, which must not be signalled.
        guard JobLock.isHeld(databasePath: database.path, jobName: name) else {
            let step = try await store.lastAppliedStep(jobID: jobID)
            print("job \(name) is not running (interrupted: its process is gone) at step \(step); `moontune run` resumes it")
            return
        }
        // issue 13: a job that `serve` runs is stopped through the database (the daemon polls it);
        // a signal to the daemon's pid would stop every job it runs.
        let served = try await store.isDaemon(pid: pid, host: job.host ?? "")
        if served && !force {
            try await ProgressStore(path: database.path).requestStop(jobID: jobID, now: ProgressStore.nowMs())
            print("asked serve (pid \(pid)) to stop job \(name); waiting for it to stop (a train_step in flight is seen through)")
        } else if served {
            FileHandle.standardError.write(Data("moontune: job \(name) runs in serve (pid \(pid)); --force would kill every job it runs\n".utf8))
            throw ExitCode(1)
        } else if kill(pid, force ? SIGKILL : SIGTERM) != 0 {
            FileHandle.standardError.write(Data("moontune: cannot signal pid \(pid): \(String(cString: strerror(errno)))\n".utf8))
            throw ExitCode(1)
        }
        if !force && !served { print("sent SIGTERM to pid \(pid); waiting for job \(name) to stop (a train_step in flight is seen through; any other wait ends at once)") }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            // The runner records how it ended before it exits, so once the lock is free the record is final.
            guard !JobLock.isHeld(databasePath: database.path, jobName: name) else { continue }
            let step = try await store.lastAppliedStep(jobID: jobID)
            let state = try await store.job(named: name)?.state ?? job.state
            if force {
                print("job \(name) killed at step \(step); the next run reconciles")
            } else if state == .running {
                print("job \(name) exited without recording a stop (interrupted) at step \(step); the next run reconciles")
            } else {
                print("job \(name) \(state.rawValue) at step \(step)")
            }
            return
        }
        let message = "moontune: job \(name) (pid \(pid)) did not stop within \(Int(timeout)) s; "
            + "it may be finishing a slow step. Wait, or use --force (the next run reconciles).\n"
        FileHandle.standardError.write(Data(message.utf8))
        throw ExitCode(1)
    }
}
