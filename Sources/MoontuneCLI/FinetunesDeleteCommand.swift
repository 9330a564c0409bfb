import ArgumentParser
import MoontuneManage

/// `moontune finetunes delete NAME|ID --yes`.
///
/// Refuses while a local job using the finetune runs, and holds those jobs' locks during the
/// call so that none can start meanwhile. The deletion is recorded in each job that used it
/// (`FinetuneManagement.delete`, in MoontuneManage).
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
            let deletion = try await FinetuneManagement.delete(target, confirmed: yes, local: local) { try .standalone(api) }
            guard deletion.deleted else {
                print("would delete \(deletion.summary)")
                throw CommandFailure("nothing deleted: run again with --yes to delete it")
            }
            print("deleted \(deletion.summary)")
        }
    }
}
