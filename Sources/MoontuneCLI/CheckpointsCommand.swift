import ArgumentParser
import Foundation
import MoontuneManage
import MoontuneStore
import MoontuneReport

/// `moontune checkpoints NAME`: the job's checkpoints, deleted ones included, each with the model
/// string that inference takes; `moontune checkpoints delete NAME STEP` deletes one.
///
/// A group whose default subcommand is `list` (CheckpointsManageCommand.swift): ArgumentParser
/// cannot give one command both a positional NAME and subcommands.
struct CheckpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "List a job's checkpoints (deleted ones too) with their inference model strings, or delete one.",
        discussion: "`moontune checkpoints NAME` lists (the record joined with the server's list); "
            + "`moontune checkpoints delete NAME STEP` deletes.",
        subcommands: [CheckpointsListCommand.self, CheckpointsDeleteCommand.self],
        defaultSubcommand: CheckpointsListCommand.self)

    /// The record alone, as `checkpoints list --local` prints it.
    static func printLocal(name: String, database: DatabaseOption, json: Bool) async throws {
        let (store, job) = try await database.openJob(named: name)
        let checkpoints = try await CheckpointManagement.localCheckpoints(job, store: store)
        if json {
            struct Document: Encodable {
                var job: String
                var finetuneID: String?
                var checkpoints: [JobStatusReport.CheckpointReport]
                enum CodingKeys: String, CodingKey { case job, finetuneID = "finetune_id", checkpoints }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Document(job: name, finetuneID: job.finetuneID, checkpoints: checkpoints)),
                         as: UTF8.self))
        } else {
            print(Self.render(checkpoints, job: job))
        }
    }

    /// A table: step, kind, state, when saved, and the model string (for live checkpoints only).
    static func render(_ checkpoints: [JobStatusReport.CheckpointReport], job: JobRecord) -> String {
        guard !checkpoints.isEmpty else { return "job \(job.name) has no checkpoints yet" }
        let expiring = checkpoints.contains { $0.expiresAtMs != nil }
        var rows = [["STEP", "KIND", "STATE", "SAVED"] + (expiring ? ["EXPIRES"] : []) + ["MODEL"]]
        for checkpoint in checkpoints {
            rows.append([String(checkpoint.step), checkpoint.kind, checkpoint.state, StatusText.date(checkpoint.savedAtMs)]
                        + (expiring ? [checkpoint.expiresAtMs.map(StatusText.date) ?? "-"] : [])
                        + [checkpoint.state == "saved" ? checkpoint.model : "(\(checkpoint.model))"])
        }
        let live = checkpoints.filter { $0.state == "saved" }.count
        return PlainTable.render(rows) + "\n\(live) saved, \(checkpoints.count - live) deleted or being deleted;"
            + " models in parentheses can no longer be used for inference"
    }
}
