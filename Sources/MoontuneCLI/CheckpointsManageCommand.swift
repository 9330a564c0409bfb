import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport

/// `moontune checkpoints [list] NAME`: the record joined with the server's list (the default
/// subcommand of `CheckpointsCommand`); `--local`, the record alone.
struct CheckpointsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "A job's checkpoints, deleted ones included, as the record and the server see them, with model strings.")

    @Argument(help: "The job's name.")
    var name: String

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Print JSON.")
    var json = false

    @Flag(help: "Read the local record only; do not ask the server.")
    var local = false

    func run() async throws {
        if local {
            try await CheckpointsCommand.printLocal(name: name, database: database, json: json)
            return
        }
        try await CommandEdge.run {
            let jobs = try LocalJobs.open(database.path)
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
                    note = "the server could not be asked (\(CommandEdge.describe(error))); showing the local record only"
                }
            }
            let joined = CheckpointJoin.join(record: record, server: server, finetuneID: job.finetuneID ?? "?")
            if json {
                struct Document: Encodable {
                    var job: String; var finetuneID: String?; var serverAsked: Bool; var note: String?; var checkpoints: [JoinedCheckpoint]
                    enum CodingKeys: String, CodingKey {
                        case job, finetuneID = "finetune_id", serverAsked = "server_asked", note, checkpoints
                    }
                }
                print(try ManagementJSON.encode(Document(job: job.name, finetuneID: job.finetuneID, serverAsked: server != nil,
                                                         note: note, checkpoints: joined)))
            } else {
                print(CheckpointJoin.render(joined, job: job.name, serverNote: note))
            }
        }
    }
}

/// `moontune checkpoints delete NAME STEP [--force]`.
struct CheckpointsDeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete one saved checkpoint of a job on the server.",
        discussion: "The latest checkpoint is kept unless --force: without it, training could no longer resume.")

    @Argument(help: "The job's name.")
    var name: String

    @Argument(help: "The checkpoint's step on the server, as `checkpoints NAME` lists it (the number after @ in its model string).")
    var step: Int

    @Flag(help: "Delete even the latest checkpoint (training could then no longer resume).")
    var force = false

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        try await CommandEdge.run {
            let jobs = try LocalJobs.open(database.path, writable: true)
            let job = try await jobs.job(named: name)
            let finetuneID = try LocalJobs.finetuneID(of: job)
            guard let store = jobs.store, let jobID = job.id else { throw CommandFailure("no job named \(name) in \(database.path)") }
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
                    throw CommandFailure("the finetune \(finetuneID) of job \(name) no longer exists on \(job.baseURL)")
                }
                wasLatest = step == saved.max()
                if wasLatest, !force {
                    throw CommandFailure("step \(step) is the latest checkpoint of job \(name): after deleting it, training "
                        + "could no longer resume (the server continues a finetune from its latest checkpoint). "
                        + "Use --force to delete it anyway.")
                }
                // The record keeps checkpoints by the job's step; after skipped steps (train.skip_constant_groups)
                // one server checkpoint may stand for several of them, and every one goes with it.
                let recorded = try await store.checkpoints(jobID: jobID).filter { $0.isLive && $0.stepOnServer == step }.map(\.step)
                let records = recorded.isEmpty ? [step] : recorded
                for record in records { try await store.markCheckpointDeleting(jobID: jobID, step: record, now: ProgressStore.nowMs()) }
                do {
                    try await client.deleteCheckpoint(finetuneID: finetuneID, step: step)
                } catch let error as APIError where error.kind == .notFound || error.kind == .gone {
                    // The server does not have it: the record says so too, then the user is told.
                    for record in records { try await store.markCheckpointDeleted(jobID: jobID, step: record, now: ProgressStore.nowMs()) }
                    throw CommandFailure(error.kind == .gone
                        ? "the checkpoint of job \(name) at step \(step) was already deleted"
                        : "job \(name) has no checkpoint at step \(step) on the server (never saved); saved steps: "
                            + (saved.isEmpty ? "none" : saved.map(String.init).joined(separator: ", ")))
                }
                for record in records { try await store.markCheckpointDeleted(jobID: jobID, step: record, now: ProgressStore.nowMs()) }
                try await store.recordEvent(jobID: jobID, kind: "checkpoint-deleted", step: step,
                                            message: "checkpoint \(step) deleted with `moontune checkpoints delete`", now: ProgressStore.nowMs())
            }
            print("deleted the checkpoint of job \(name) at step \(step) (\(inferenceModel(finetuneID: finetuneID, step: step)))"
                + (wasLatest ? "; it was the latest, so training can no longer resume" : ""))
            withExtendedLifetime(lock) {}
        }
    }
}
