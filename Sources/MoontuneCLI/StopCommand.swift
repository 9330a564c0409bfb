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
        let store: ProgressStore
        do {
            store = try ProgressStore(path: database.path, readOnly: true)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard let job = try await store.job(named: name) else {
            FileHandle.standardError.write(Data("moontune: no job named \(name) in \(database.path)\n".utf8))
            throw ExitCode(1)
        }
        let state = LivenessCheck.displayedState(job, databasePath: database.path, now: ProgressStore.nowMs())
        guard state == "running", let pid = job.pid else {
            print("job \(name) is not running (\(state)) at step \(try await store.lastAppliedStep(jobID: job.id ?? 0))")
            return
        }
        guard job.host == ProcessInfo.processInfo.hostName else {
            FileHandle.standardError.write(Data("moontune: job \(name) runs on \(job.host ?? "another host"); stop it there\n".utf8))
            throw ExitCode(1)
        }
        guard kill(pid, force ? SIGKILL : SIGTERM) == 0 else {
            FileHandle.standardError.write(Data("moontune: cannot signal pid \(pid): \(String(cString: strerror(errno)))\n".utf8))
            throw ExitCode(1)
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let current = try await store.job(named: name)
            let lockHeld = JobLock.isHeld(databasePath: database.path, jobName: name)
            let step = try await store.lastAppliedStep(jobID: job.id ?? 0)
            if force, !lockHeld {
                print("job \(name) killed at step \(step); the next run reconciles")
                return
            }
            if let current, current.state != .running, !lockHeld {
                print("job \(name) \(current.state.rawValue) at step \(step)")
                return
            }
        }
        let message = "moontune: job \(name) (pid \(pid)) did not stop within \(Int(timeout)) s; "
            + "it may be finishing a slow step. Wait, or use --force (the next run reconciles).\n"
        FileHandle.standardError.write(Data(message.utf8))
        throw ExitCode(1)
    }
}
