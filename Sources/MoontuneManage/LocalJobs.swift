import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport

/// The state database as the management commands use it: opened only if it exists (a listing
/// never creates one), jobs found by name or by finetune, and whether their runner is alive.
package struct LocalJobs: Sendable {
    package let store: ProgressStore?
    package let path: String

    /// Opens the database at `path` if there is one. `writable` brings its schema up to date, as
    /// every writer does.
    package static func open(_ path: String, writable: Bool = false) throws -> LocalJobs {
        guard FileManager.default.fileExists(atPath: path) else { return LocalJobs(store: nil, path: path) }
        return LocalJobs(store: try ProgressStore(path: path, readOnly: !writable), path: path)
    }

    /// The job, or a failure naming the database.
    package func job(named name: String) async throws -> JobRecord {
        guard let store, let job = try await store.job(named: name) else {
            throw ManageFailure("no job named \(name) in \(path)")
        }
        return job
    }

    package func jobIfAny(named name: String) async throws -> JobRecord? {
        guard let store else { return nil }
        return try await store.job(named: name)
    }

    package func allJobs() async throws -> [JobRecord] {
        try await store?.allJobs() ?? []
    }

    /// Jobs that train (or trained) the finetune.
    package func jobs(usingFinetune finetuneID: String) async throws -> [JobRecord] {
        try await allJobs().filter { $0.finetuneID == finetuneID }
    }

    /// `running`, `interrupted`, `completed`, ... as `status` shows it.
    package func displayedState(_ job: JobRecord) -> String {
        JobLiveness.displayedState(job, databasePath: path, now: ProgressStore.nowMs())
    }

    /// The job's finetune id, or a failure saying the job never created one.
    package static func finetuneID(of job: JobRecord) throws -> String {
        guard let id = job.finetuneID else {
            throw ManageFailure("job \(job.name) has no finetune yet (it has never run)")
        }
        return id
    }

    /// A one-line refusal for acting on a job while its runner is alive.
    package static func runningRefusal(_ job: JobRecord, doing action: String) -> ManageFailure {
        let who = job.pid.map { " (pid \($0)\(job.host.map { " on \($0)" } ?? ""))" } ?? ""
        return ManageFailure("refusing to \(action): job \(job.name) is running\(who). Stop it first with `moontune stop \(job.name)`.")
    }
}
