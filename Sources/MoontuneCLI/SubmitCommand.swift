import ArgumentParser
import Foundation
import MoontuneJob
import MoontuneLoop
import MoontuneStore

/// `moontune submit CONFIG`: validates the job like `start` and records it `queued` for `serve`.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Queue a job for `moontune serve`: checks the config like start, then records it queued.",
        discussion: """
            Works whether or not serve is running; a running serve starts it within a few seconds when a slot is \
            free, highest --priority first, then oldest. Submitting a stopped, interrupted or failed job queues it \
            again; a completed one is left as it is; a running one is refused. The API key is read by serve, from \
            its own environment.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "Higher runs first, and gets a larger share of serve's request budget.")
    var priority: Int = 0

    func run() async throws {
        umask(0o077)
        let databasePath = absolute(database.path)
        let configURL = URL(fileURLWithPath: absolute(config))
        // The one way in (`JobAdmission`, as `run` and `serve`): the same located errors, the same
        // refusal of changed training settings, the same "already complete".
        let admission: Admission
        do {
            admission = try await JobAdmission.admit(.file(configURL), databasePath: databasePath)
        } catch SessionError.invalid(let problems) {
            for problem in problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let jobConfig = admission.config
        if let step = admission.completeAtStep {
            print("job \(jobConfig.name) is already complete at step \(step); nothing to queue")
            return
        }
        let store: ProgressStore
        do {
            store = try ProgressStore(path: databasePath)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let record = admission.newRecord(now: ProgressStore.nowMs())
        let held = JobLock.isHeld(databasePath: databasePath, jobName: jobConfig.name)
        // Issue 25: a job its sweep pruned, submitted again by hand, runs on: released before it
        // is queued, so that no `serve` takes it still pruned.
        if let id = admission.existing?.id, !held { try await store.releasePruning(jobID: id, now: ProgressStore.nowMs()) }
        switch try await store.submitJob(record, priority: priority, runnerAlive: held, now: ProgressStore.nowMs()) {
        case .queued:
            print("queued job \(jobConfig.name) (priority \(priority))")
        case .requeued(let previous):
            print("queued job \(jobConfig.name) again (was \(previous == .running ? "interrupted" : previous.rawValue); priority \(priority))")
        case .updated:
            print("job \(jobConfig.name) is already queued; priority now \(priority)")
        case .alreadyComplete(let step):
            print("job \(jobConfig.name) is already complete at step \(step); nothing to queue")
        case .running:
            let job = try await store.job(named: jobConfig.name)
            FileHandle.standardError.write(Data("moontune: \(SessionErrorText.alreadyRunning(jobConfig.name, pid: job?.pid))\n".utf8))
            throw ExitCode(1)
        }
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }
}
