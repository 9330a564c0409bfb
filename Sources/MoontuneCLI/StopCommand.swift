import ArgumentParser
import Foundation
import MoontuneLoop
import MoontuneStore

/// `moontune stop NAME`: asks the job to stop (the protocol is `JobStop`, in MoontuneLoop) and
/// waits until it has, then says how it ended.
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
        let asked: JobStop.Asked
        do {
            asked = try await JobStop.ask(name: name, databasePath: database.path, force: force)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let pid: Int32
        switch asked {
        case .dequeued(let step):
            print("job \(name) was queued; taken out of the queue (stopped) at step \(step)")
            return
        case let .notRunning(state, step):
            print("job \(name) is not running (\(state.rawValue)) at step \(step)")
            return
        case .interrupted(let step):
            print("job \(name) is not running (interrupted: its process is gone) at step \(step); `moontune run` resumes it")
            return
        case .askedServe(let daemon):
            pid = daemon
            print("asked serve (pid \(pid)) to stop job \(name); waiting for it to stop (a train_step in flight is seen through)")
        case let .signalled(runner, force):
            pid = runner
            if !force {
                print("sent SIGTERM to pid \(pid); waiting for job \(name) to stop (a train_step in flight is seen through; any other wait ends at once)")
            }
        }
        if let ended = try await JobStop.waitForEnd(name: name, databasePath: database.path, timeout: .seconds(timeout)) {
            if force {
                print("job \(name) killed at step \(ended.step); the next run reconciles")
            } else if ended.state == .running {
                print("job \(name) exited without recording a stop (interrupted) at step \(ended.step); the next run reconciles")
            } else {
                print("job \(name) \(ended.state.rawValue) at step \(ended.step)")
            }
            return
        }
        let message = "moontune: job \(name) (pid \(pid)) did not stop within \(Int(timeout)) s; "
            + "it may be finishing a slow step. Wait, or use --force (the next run reconciles).\n"
        FileHandle.standardError.write(Data(message.utf8))
        throw ExitCode(1)
    }
}
