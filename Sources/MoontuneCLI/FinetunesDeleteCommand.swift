import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneStore

/// `moontune finetunes delete NAME|ID --yes`.
///
/// Refuses while a local job using the finetune runs, and holds those jobs' locks during the
/// call so that none can start meanwhile. The deletion is recorded in each job that used it.
struct FinetunesDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a finetune on the server (its checkpoints go with it).",
        discussion: "Without --yes, says what would be deleted and exits non-zero. Refused while a local job using it runs.")

    @Argument(help: "A job name, or a finetune id or name.")
    var target: String

    @Flag(help: "Really delete.")
    var yes = false

    @OptionGroup var api: APIOptions
    @OptionGroup var database: DatabaseOption

    func run() async throws {
        try await CommandEdge.run {
            let local = try LocalJobs.open(database.path, writable: true)
            let (found, client) = try await FinetuneTarget.resolve(target, local: local, options: api) { try $0.makeClient() }
            try await withClient(client) { client in
                try await delete(found, local: local, client: client)
            }
        }
    }

    func delete(_ target: FinetuneTarget, local: LocalJobs, client: MoondreamClient) async throws {
        guard let finetune = target.finetune else {
            throw CommandFailure("finetune \(target.finetuneID) does not exist on \(target.access.baseURL) (already deleted?)")
        }
        // Described before taking the locks, which would make a crashed job look alive.
        let users = try await target.jobSummaries(local: local)
        // Take every user's lock: a running job is refused, and none can start while we delete.
        var locks: [JobLock] = []
        for job in target.jobs {
            guard let lock = try await JobLock.acquire(databasePath: local.path, jobName: job.name), !isRunningElsewhere(job, local) else {
                throw LocalJobs.runningRefusal(job, doing: "delete finetune \(finetune.finetuneID)")
            }
            locks.append(lock)
        }
        let checkpoints = try await target.serverCheckpoints(client: client)
        let steps = checkpoints.map { String($0.step) }.joined(separator: ", ")
        var summary = "finetune \(finetune.finetuneID) (name \(finetune.name), rank \(finetune.rank)) and its "
            + "\(checkpoints.count) checkpoints" + (steps.isEmpty ? "" : " (steps \(steps))")
        if !users.isEmpty { summary += "; used by " + users.joined(separator: "; ") }
        guard yes else {
            print("would delete \(summary)")
            throw CommandFailure("nothing deleted: run again with --yes to delete it")
        }
        do {
            try await client.deleteFinetune(id: finetune.finetuneID)
        } catch let error as APIError where error.kind == .notFound {
            throw CommandFailure("finetune \(finetune.finetuneID) does not exist on \(target.access.baseURL) (deleted meanwhile?)")
        }
        try await record(target, local: local, checkpoints: checkpoints)
        print("deleted \(summary)")
        withExtendedLifetime(locks) {}
    }

    /// A job recorded `running` on another host with a fresh heartbeat: our lock cannot see it.
    func isRunningElsewhere(_ job: JobRecord, _ local: LocalJobs) -> Bool {
        job.host != ProcessInfo.processInfo.hostName && local.displayedState(job) == "running"
    }

    /// Records the deletion in every job that used the finetune: the finetune, and its checkpoints
    /// (the server removes them with it).
    func record(_ target: FinetuneTarget, local: LocalJobs, checkpoints: [Checkpoint]) async throws {
        guard let store = local.store else { return }
        let now = ProgressStore.nowMs()
        for job in target.jobs {
            guard let jobID = job.id else { continue }
            try await store.markFinetuneDeleted(jobID: jobID, now: now)
            for checkpoint in try await store.checkpoints(jobID: jobID) where checkpoint.isLive {
                try await store.markCheckpointDeleted(jobID: jobID, step: checkpoint.step, now: now)
            }
            try await store.recordEvent(jobID: jobID, kind: "finetune-deleted", step: nil,
                                        message: "finetune \(target.finetuneID) deleted with `moontune finetunes delete`", now: now)
        }
    }
}
