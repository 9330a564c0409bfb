import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport

/// The state database as the management commands use it: opened only if it exists (a listing
/// never creates one), jobs found by name or by finetune, and whether their runner is alive.
struct LocalJobs {
    let store: ProgressStore?
    let path: String

    /// Opens the database at `path` if there is one. `writable` brings its schema up to date, as
    /// every writer does.
    static func open(_ path: String, writable: Bool = false) throws -> LocalJobs {
        guard FileManager.default.fileExists(atPath: path) else { return LocalJobs(store: nil, path: path) }
        return LocalJobs(store: try ProgressStore(path: path, readOnly: !writable), path: path)
    }

    /// The job, or a failure naming the database.
    func job(named name: String) async throws -> JobRecord {
        guard let store, let job = try await store.job(named: name) else {
            throw CommandFailure("no job named \(name) in \(path)")
        }
        return job
    }

    func jobIfAny(named name: String) async throws -> JobRecord? {
        guard let store else { return nil }
        return try await store.job(named: name)
    }

    func allJobs() async throws -> [JobRecord] {
        try await store?.allJobs() ?? []
    }

    /// Jobs that train (or trained) the finetune.
    func jobs(usingFinetune finetuneID: String) async throws -> [JobRecord] {
        try await allJobs().filter { $0.finetuneID == finetuneID }
    }

    /// `running`, `interrupted`, `completed`, ... as `status` shows it.
    func displayedState(_ job: JobRecord) -> String {
        JobLiveness.displayedState(job, databasePath: path, now: ProgressStore.nowMs())
    }

    /// The job's finetune id, or a failure saying the job never created one.
    static func finetuneID(of job: JobRecord) throws -> String {
        guard let id = job.finetuneID else {
            throw CommandFailure("job \(job.name) has no finetune yet (it has never run)")
        }
        return id
    }

    /// A one-line refusal for acting on a job while its runner is alive.
    static func runningRefusal(_ job: JobRecord, doing action: String) -> CommandFailure {
        let who = job.pid.map { " (pid \($0)\(job.host.map { " on \($0)" } ?? ""))" } ?? ""
        return CommandFailure("refusing to \(action): job \(job.name) is running\(who). Stop it first with `moontune stop \(job.name)`.")
    }
}
