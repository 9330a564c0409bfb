import ArgumentParser
import Foundation
import MoontuneManage
import MoondreamAPI
import MoontuneStore
import MoontuneReport

/// `moontune finetunes list|show|delete`: the organization's finetunes on the server, joined with
/// the local jobs that use them.
struct FinetunesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetunes",
        abstract: "List, show and delete the organization's finetunes.",
        subcommands: [FinetunesListCommand.self, FinetunesShowCommand.self, FinetunesDeleteCommand.self])
}

/// `moontune finetunes list`: every finetune, across all pages.
struct FinetunesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every finetune of the organization; those a local job uses are marked with the job.")

    @OptionGroup var api: APIOptions
    @OptionGroup var database: DatabaseOption

    @Flag(help: "Print JSON: {\"finetunes\": [...]}.")
    var json = false

    func run() async throws {
        try await CommandEdge.run {
            let local = try LocalJobs.open(database.path)
            let listing = try await FinetuneManagement.list(local: local, access: try APIAccess.standalone(api))
            if json {
                print(try jsonDocument(listing.finetunes, byFinetune: listing.byFinetune, local: local))
                return
            }
            print(table(listing.finetunes, byFinetune: listing.byFinetune, local: local))
            for job in listing.missing {
                print("job \(job.name): its finetune \(job.finetuneID ?? "-") is not on the server"
                    + (job.finetuneDeletedAtMs.map { " (deleted \(StatusText.date($0)))" } ?? ""))
            }
        }
    }

    func table(_ finetunes: [Finetune], byFinetune: [String: [JobRecord]], local: LocalJobs) -> String {
        guard !finetunes.isEmpty else { return "no finetunes" }
        var rows = [["FINETUNE", "NAME", "RANK", "CREATED", "JOB"]]
        for finetune in finetunes {
            let users = (byFinetune[finetune.finetuneID] ?? []).map { "\($0.name) (\(local.displayedState($0)))" }
            rows.append([finetune.finetuneID, finetune.name, String(finetune.rank),
                         finetune.createdAtMs.map(StatusText.date) ?? "-", users.isEmpty ? "-" : users.joined(separator: ", ")])
        }
        let used = finetunes.filter { byFinetune[$0.finetuneID] != nil }.count
        return PlainTable.render(rows, rightAligned: [2]) + "\n\(finetunes.count) finetunes, \(used) used by local jobs"
    }

    func jsonDocument(_ finetunes: [Finetune], byFinetune: [String: [JobRecord]], local: LocalJobs) throws -> String {
        struct JobRef: Encodable { var name: String; var state: String }
        struct Entry: Encodable {
            var finetuneID: String; var name: String; var rank: Int; var createdAtMs: Int64?; var updatedAtMs: Int64?
            var jobs: [JobRef]
            enum CodingKeys: String, CodingKey {
                case finetuneID = "finetune_id", name, rank, createdAtMs = "created_at_ms", updatedAtMs = "updated_at_ms", jobs
            }
        }
        struct Document: Encodable { var finetunes: [Entry] }
        let entries = finetunes.map { finetune in
            Entry(finetuneID: finetune.finetuneID, name: finetune.name, rank: finetune.rank, createdAtMs: finetune.createdAtMs,
                  updatedAtMs: finetune.updatedAtMs,
                  jobs: (byFinetune[finetune.finetuneID] ?? []).map { JobRef(name: $0.name, state: local.displayedState($0)) })
        }
        return try ManagementJSON.encode(Document(finetunes: entries))
    }
}

/// `moontune finetunes show NAME|ID`.
struct FinetunesShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a finetune's details and its checkpoints on the server.",
        discussion: "NAME is a local job's name (its finetune, on the job's server) or a finetune's id or name.")

    @Argument(help: "A job name, or a finetune id or name.")
    var target: String

    @OptionGroup var api: APIOptions
    @OptionGroup var database: DatabaseOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await CommandEdge.run {
            let local = try LocalJobs.open(database.path)
            let shown = try await FinetuneManagement.show(target, local: local) { try .standalone(api) }
            if json {
                print(try jsonDocument(shown.target, checkpoints: shown.checkpoints, local: local))
            } else {
                print(text(shown))
            }
            if shown.target.finetune == nil {
                throw CommandFailure("finetune \(shown.target.finetuneID) no longer exists on \(shown.target.access.baseURL)")
            }
        }
    }

    func text(_ shown: FinetuneManagement.Shown) -> String {
        let target = shown.target, checkpoints = shown.checkpoints
        var lines: [String] = []
        if let finetune = target.finetune {
            lines.append("finetune \(finetune.finetuneID)  name \(finetune.name)  rank \(finetune.rank)")
            lines.append("  created \(finetune.createdAtMs.map(StatusText.date) ?? "-")  updated \(finetune.updatedAtMs.map(StatusText.date) ?? "-")")
        } else {
            lines.append("finetune \(target.finetuneID): not on the server (deleted)")
        }
        lines.append("  api \(target.access.baseURL)")
        for summary in shown.jobSummaries { lines.append("  used by \(summary)") }
        if target.jobs.isEmpty { lines.append("  no local job uses it") }
        if checkpoints.isEmpty {
            lines.append("  no saved checkpoints on the server")
        } else {
            lines.append("  \(checkpoints.count) saved checkpoints on the server:")
            var rows = [["STEP", "CHECKPOINT", "SAVED", "MODEL"]]
            for checkpoint in checkpoints {
                rows.append([String(checkpoint.step), checkpoint.checkpointID, checkpoint.createdAtMs.map(StatusText.date) ?? "-",
                             inferenceModel(finetuneID: target.finetuneID, step: checkpoint.step)])
            }
            lines.append(PlainTable.render(rows, rightAligned: [0]).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        }
        return lines.joined(separator: "\n")
    }

    func jsonDocument(_ target: FinetuneTarget, checkpoints: [Checkpoint], local: LocalJobs) throws -> String {
        struct JobRef: Encodable { var name: String; var state: String }
        struct CheckpointEntry: Encodable {
            var step: Int; var checkpointID: String; var createdAtMs: Int64?; var model: String
            enum CodingKeys: String, CodingKey { case step, checkpointID = "checkpoint_id", createdAtMs = "created_at_ms", model }
        }
        struct Document: Encodable {
            var finetuneID: String; var exists: Bool; var finetune: Finetune?; var jobs: [JobRef]; var checkpoints: [CheckpointEntry]
            enum CodingKeys: String, CodingKey { case finetuneID = "finetune_id", exists, finetune, jobs, checkpoints }
        }
        return try ManagementJSON.encode(Document(
            finetuneID: target.finetuneID, exists: target.finetune != nil, finetune: target.finetune,
            jobs: target.jobs.map { JobRef(name: $0.name, state: local.displayedState($0)) },
            checkpoints: checkpoints.map {
                CheckpointEntry(step: $0.step, checkpointID: $0.checkpointID, createdAtMs: $0.createdAtMs,
                                model: inferenceModel(finetuneID: target.finetuneID, step: $0.step))
            }))
    }
}

