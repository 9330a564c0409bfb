import ArgumentParser
import Foundation
import MoontuneManage
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
            let listing = try await CheckpointManagement.list(job: name, databasePath: database.path)
            if json {
                struct Document: Encodable {
                    var job: String; var finetuneID: String?; var serverAsked: Bool; var note: String?; var checkpoints: [JoinedCheckpoint]
                    enum CodingKeys: String, CodingKey {
                        case job, finetuneID = "finetune_id", serverAsked = "server_asked", note, checkpoints
                    }
                }
                print(try ManagementJSON.encode(Document(job: listing.job.name, finetuneID: listing.job.finetuneID,
                                                         serverAsked: listing.serverAsked, note: listing.note,
                                                         checkpoints: listing.checkpoints)))
            } else {
                print(CheckpointJoin.render(listing.checkpoints, job: listing.job.name, serverNote: listing.note))
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
            let deleted = try await CheckpointManagement.delete(job: name, step: step, force: force, databasePath: database.path)
            print("deleted the checkpoint of job \(name) at step \(step) (\(deleted.model))"
                + (deleted.wasLatest ? "; it was the latest, so training can no longer resume" : ""))
        }
    }
}
