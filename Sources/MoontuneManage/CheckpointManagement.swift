import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport
import MoontuneDecisions
import MoontuneLoop

/// `checkpoints`: a job's checkpoints as the record and the server see them, and deleting one.
package enum CheckpointManagement {
    /// A job's checkpoints, the record joined with the server's list.
    package struct Listing: Sendable {
        package var job: JobRecord
        package var checkpoints: [JoinedCheckpoint]
        /// Whether the server's list is in `checkpoints` (false: the record alone).
        package var serverAsked: Bool
        /// Why the server's list is missing or empty, for the user.
        package var note: String?
    }

    /// The job's checkpoints, deleted ones included, the record joined with the server's list.
    /// The server's failure (other than a missing finetune) is a note, not an error: the record
    /// is still worth showing.
    package static func list(job name: String, databasePath: String) async throws -> Listing {
        let jobs = try LocalJobs.open(databasePath)
        let job = try await jobs.job(named: name)
        let record = try await jobs.store?.checkpoints(jobID: job.id ?? 0) ?? []
        var server: [Checkpoint]?
        var note: String?
        if let finetuneID = job.finetuneID {
            do {
                server = try await withClient(try APIAccess.job(job).makeClient(maxInFlight: 2)) { client in
                    try await client.allCheckpoints(finetuneID: finetuneID).collect()
                }
            } catch let error as APIError where error.kind == .notFound {
                server = []
                note = "the finetune \(finetuneID) no longer exists on \(job.baseURL)"
            } catch let error as APIError {
                note = "the server could not be asked (\(ManageFailure.describe(error))); showing the local record only"
            }
        }
        let joined = CheckpointJoin.join(record: record, server: server, finetuneID: job.finetuneID ?? "?")
        return Listing(job: job, checkpoints: joined, serverAsked: server != nil, note: note)
    }

    /// The checkpoints the local record holds for a job, by step. The one place that reads them,
    /// so that a listing joined with the server's can start from it.
    package static func localCheckpoints(_ job: JobRecord, store: ProgressStore) async throws -> [JobStatusReport.CheckpointReport] {
        try await store.checkpoints(jobID: job.id ?? 0).map { JobStatusReport.CheckpointReport($0, finetuneID: job.finetuneID) }
    }

    /// A checkpoint deleted on the server and in the record.
    package struct Deletion: Sendable, Equatable {
        package var finetuneID: String
        package var step: Int
        /// Its inference model string.
        package var model: String
        /// It was the latest: training can no longer resume.
        package var wasLatest: Bool
    }

    /// Deletes the checkpoint the server saved at `step` (as `checkpoints NAME` lists it), and
    /// records it deleted. Refused while the job runs, and for the latest checkpoint unless
    /// `force` (without it, training could no longer resume).
    package static func delete(job name: String, step: Int, force: Bool, databasePath: String) async throws -> Deletion {
        let jobs = try LocalJobs.open(databasePath, writable: true)
        let job = try await jobs.job(named: name)
        let finetuneID = try LocalJobs.finetuneID(of: job)
        guard let store = jobs.store, let jobID = job.id else { throw ManageFailure("no job named \(name) in \(databasePath)") }
        // Held for the whole deletion: the job's runner cannot start meanwhile.
        guard let lock = try await JobLock.acquire(databasePath: jobs.path, jobName: job.name),
              !(job.host != ProcessInfo.processInfo.hostName && jobs.displayedState(job) == "running") else {
            throw LocalJobs.runningRefusal(job, doing: "delete a checkpoint")
        }
        var wasLatest = false
        try await withClient(try APIAccess.job(job).makeClient(maxInFlight: 2)) { client in
            let saved: [Int]
            do {
                saved = try await client.allCheckpoints(finetuneID: finetuneID).collect().map(\.step)
            } catch let error as APIError where error.kind == .notFound {
                throw ManageFailure("the finetune \(finetuneID) of job \(name) no longer exists on \(job.baseURL)")
            }
            wasLatest = step == saved.max()
            if wasLatest, !force {
                throw ManageFailure("step \(step) is the latest checkpoint of job \(name): after deleting it, training "
                    + "could no longer resume (the server continues a finetune from its latest checkpoint). "
                    + "Use --force to delete it anyway.")
            }
            // The record keeps checkpoints by the job's step; after skipped steps (train.skip_constant_groups)
            // one server checkpoint may stand for several of them, and every one goes with it.
            let recorded = try await store.checkpoints(jobID: jobID).filter { $0.isLive && $0.stepOnServer == step }.map(\.step)
            let records = recorded.isEmpty ? [step] : recorded
            for record in records { try await store.commit(jobID: jobID, .deletionStarted(step: record), now: ProgressStore.nowMs()) }
            do {
                try await client.deleteCheckpoint(finetuneID: finetuneID, step: step)
            } catch let error as APIError where error.kind == .notFound || error.kind == .gone {
                // The server does not have it: the record says so too, then the user is told.
                for record in records { try await store.commit(jobID: jobID, .checkpointDeleted(step: record), now: ProgressStore.nowMs()) }
                throw ManageFailure(error.kind == .gone
                    ? "the checkpoint of job \(name) at step \(step) was already deleted"
                    : "job \(name) has no checkpoint at step \(step) on the server (never saved); saved steps: "
                        + (saved.isEmpty ? "none" : saved.map(String.init).joined(separator: ", ")))
            }
            for record in records { try await store.commit(jobID: jobID, .checkpointDeleted(step: record), now: ProgressStore.nowMs()) }
            try await store.recordEvent(jobID: jobID, kind: "checkpoint-deleted", step: step,
                                        message: "checkpoint \(step) deleted with `moontune checkpoints delete`", now: ProgressStore.nowMs())
        }
        withExtendedLifetime(lock) {}
        return Deletion(finetuneID: finetuneID, step: step, model: inferenceModel(finetuneID: finetuneID, step: step), wasLatest: wasLatest)
    }
}
