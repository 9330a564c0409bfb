import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneDecisions
import MoontuneLoop

/// `finetunes list|show|delete`: the organization's finetunes on the server, joined with the local
/// jobs that use them.
package enum FinetuneManagement {
    /// Every finetune on a server, with the local jobs that use each.
    package struct Listing: Sendable {
        package var finetunes: [Finetune]
        /// Local jobs by the finetune they train.
        package var byFinetune: [String: [JobRecord]]
        /// Local jobs on this server whose finetune is not in the server's list.
        package var missing: [JobRecord]
    }

    /// Every finetune of the organization (all pages), joined with the local jobs.
    package static func list(local: LocalJobs, access: APIAccess) async throws -> Listing {
        let finetunes = try await withClient(try access.makeClient()) { try await $0.allFinetunes().collect() }
        let jobs = try await local.allJobs()
        let byFinetune = Dictionary(grouping: jobs.filter { $0.finetuneID != nil }, by: { $0.finetuneID ?? "" })
        let listed = Set(finetunes.map(\.finetuneID))
        let missing = jobs.filter { job in
            job.finetuneID.map { !listed.contains($0) } ?? false && job.baseURL == access.baseURL
        }
        return Listing(finetunes: finetunes, byFinetune: byFinetune, missing: missing)
    }

    /// One finetune: what the server says of it, its saved checkpoints, and the local jobs using it.
    package struct Shown: Sendable {
        package var target: FinetuneTarget
        package var checkpoints: [Checkpoint]
        /// "job kitchen (completed, step 40 of 40)" for each local job using it.
        package var jobSummaries: [String]
    }

    /// The finetune `argument` means (a local job's name, a finetune id or name; `FinetuneTarget`).
    /// A finetune the server no longer has is still shown (from the record), with `finetune` nil.
    package static func show(_ argument: String, local: LocalJobs, standalone: () throws -> APIAccess) async throws -> Shown {
        let (found, client) = try await FinetuneTarget.resolve(argument, local: local, standalone: standalone) { try $0.makeClient() }
        let checkpoints = try await withClient(client) { try await found.serverCheckpoints(client: $0) }
        return Shown(target: found, checkpoints: checkpoints, jobSummaries: try await found.jobSummaries(local: local))
    }

    /// What `delete` did: deleted, or (not confirmed) only described.
    package struct Deletion: Sendable, Equatable {
        /// "finetune ft-1 (name kitchen, rank 8) and its 2 checkpoints (steps 5, 10); used by job ...".
        package var summary: String
        package var deleted: Bool
    }

    /// Deletes the finetune `argument` means on its server (its checkpoints go with it) and
    /// records the deletion in every local job that used it; with `confirmed` false, only says
    /// what would be deleted.
    ///
    /// Refused while a local job using the finetune runs; those jobs' locks are held during the
    /// call so that none can start meanwhile.
    package static func delete(_ argument: String, confirmed: Bool, local: LocalJobs,
                                standalone: () throws -> APIAccess) async throws -> Deletion {
        let (found, client) = try await FinetuneTarget.resolve(argument, local: local, standalone: standalone) { try $0.makeClient() }
        return try await withClient(client) { client in
            try await delete(found, confirmed: confirmed, local: local, client: client)
        }
    }

    static func delete(_ target: FinetuneTarget, confirmed: Bool, local: LocalJobs, client: MoondreamClient) async throws -> Deletion {
        guard let finetune = target.finetune else {
            throw ManageFailure("finetune \(target.finetuneID) does not exist on \(target.access.baseURL) (already deleted?)")
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
        guard confirmed else { return Deletion(summary: summary, deleted: false) }
        do {
            try await client.deleteFinetune(id: finetune.finetuneID)
        } catch let error as APIError where error.kind == .notFound {
            throw ManageFailure("finetune \(finetune.finetuneID) does not exist on \(target.access.baseURL) (deleted meanwhile?)")
        }
        try await record(target, local: local, checkpoints: checkpoints)
        withExtendedLifetime(locks) {}
        return Deletion(summary: summary, deleted: true)
    }

    /// A job recorded `running` on another host with a fresh heartbeat: our lock cannot see it.
    static func isRunningElsewhere(_ job: JobRecord, _ local: LocalJobs) -> Bool {
        job.host != ProcessInfo.processInfo.hostName && local.displayedState(job) == "running"
    }

    /// Records the deletion in every job that used the finetune: the finetune, and its checkpoints
    /// (the server removes them with it).
    static func record(_ target: FinetuneTarget, local: LocalJobs, checkpoints: [Checkpoint]) async throws {
        guard let store = local.store else { return }
        let now = ProgressStore.nowMs()
        for job in target.jobs {
            guard let jobID = job.id else { continue }
            try await store.markFinetuneDeleted(jobID: jobID, now: now)
            for checkpoint in try await store.checkpoints(jobID: jobID) where checkpoint.isLive {
                try await store.commit(jobID: jobID, .checkpointDeleted(step: checkpoint.step), now: now)
            }
            try await store.recordEvent(jobID: jobID, kind: "finetune-deleted", step: nil,
                                        message: "finetune \(target.finetuneID) deleted with `moontune finetunes delete`", now: now)
        }
    }
}
