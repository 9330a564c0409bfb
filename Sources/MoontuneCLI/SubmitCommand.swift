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
        let report = validateJob(configURL: configURL, indexCache: DatasetIndexCache(databasePath: databasePath))
        guard report.problems.isEmpty, let jobConfig = report.config, let train = report.train else {
            for problem in report.problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            throw ExitCode(2)
        }
        let fingerprint = jobConfig.trainingFingerprint(train: train.fingerprint)
        let store: ProgressStore
        do {
            store = try ProgressStore(path: databasePath)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // The same refusal as `run`: resuming with other training settings would not reproduce the job.
        if let existing = try await store.job(named: jobConfig.name),
           let recorded = try? JSONDecoder().decode(TrainingFingerprint.self, from: Data(existing.fingerprintJSON.utf8)),
           recorded != fingerprint {
            let changes = fingerprint.changes(from: recorded)
            let error = SessionError.configChanged(job: jobConfig.name, changes: changes.isEmpty ? ["(the training fingerprint differs)"] : changes)
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let record = JobRecord(name: jobConfig.name, configPath: jobConfig.sourceURL.path, configJSON: jobConfig.snapshotJSON,
                               fingerprintJSON: String(decoding: try encoder.encode(fingerprint), as: UTF8.self),
                               baseURL: jobConfig.api.baseURL, apiKeyEnv: jobConfig.api.apiKeyEnv, totalSteps: jobConfig.train.steps,
                               now: ProgressStore.nowMs())
        let held = JobLock.isHeld(databasePath: databasePath, jobName: jobConfig.name)
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
