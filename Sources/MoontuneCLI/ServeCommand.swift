import ArgumentParser
import Foundation
import Logging
import MoondreamAPI
import MoontuneReport
import MoontuneServe
import MoontuneStore

/// `moontune serve`: the daemon that runs the database's submitted jobs (MoontuneServe).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the submitted jobs of a database: a queue, one shared request budget, and an HTTP dashboard.",
        discussion: """
            At most --max-jobs jobs run at once, highest priority first, then oldest; never more than \
            --max-in-flight API requests are in flight across all of them, while each job's train.concurrency \
            still holds. Jobs on one API key share its budget: a 429 with Retry-After holds every job on the key, \
            and repeated 429s lower the key's budget, which successes raise again. Serves /healthz, /metrics, \
            /api/jobs and a dashboard at /. Binds 127.0.0.1 by default; any other address needs \
            MOONTUNE_SERVE_TOKEN (a bearer token every request but /healthz must carry). SIGTERM stops every \
            job gracefully, then exits 0; a second SIGTERM (or SIGINT), or a graceful stop longer than \
            --graceful-timeout, exits at once (status 130) and every job reconciles when it runs again. A job \
            it was running when it died is resumed when it starts again.
            """)

    @OptionGroup var database: DatabaseOption

    @Option(help: "The address to bind.") var host: String = "127.0.0.1"
    @Option(help: "The port (0: any free one; the line `listening on` tells which).") var port: Int = 8470
    @Option(name: .customLong("max-in-flight"), help: "API requests in flight across every job, at most.")
    var maxInFlight: Int = 32
    @Option(name: .customLong("max-jobs"), help: "Jobs running at once, at most.") var maxJobs: Int = 4
    @Option(name: .customLong("webhook-url"), help: "POST every job's events here too (besides notify.webhook_url).")
    var webhookURL: String?
    @Flag(help: "Log every job start and end.") var verbose = false
    @Option(name: .customLong("graceful-timeout"),
            help: "Seconds a graceful stop may take (it sees each job's train_step in flight through) before serve exits at once.")
    var gracefulTimeout: Double = 900 + GracefulShutdown.gracefulMargin

    func run() async throws {
        umask(0o077)
        signal(SIGXFSZ, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        let databasePath = URL(fileURLWithPath: database.path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
            .standardizedFileURL.path
        var logger = Logger(label: "moontune.serve")
        logger.logLevel = verbose ? .info : .notice
        let options = ServeOptions(databasePath: databasePath, host: host, port: port, maxInFlight: maxInFlight, maxJobs: maxJobs,
                                   token: environment["MOONTUNE_SERVE_TOKEN"], webhookURL: webhookURL, environment: environment)
        let daemon = ServeDaemon(options: options, logger: logger) { store in
            try await Self.statusDocument(store: store, databasePath: databasePath)
        }
        guard gracefulTimeout > 0 else {
            FileHandle.standardError.write(Data("moontune: --graceful-timeout must be more than 0 seconds\n".utf8))
            throw ExitCode(1)
        }
        let onSignal: @Sendable (String) -> Void = { name in
            FileHandle.standardError.write(Data("\(name): stopping every job gracefully (a second signal stops at once)\n".utf8))
        }
        let ran: Result<Void, any Error> = try await GracefulShutdown.run(logger: logger, maximumGracefulDuration: .seconds(gracefulTimeout),
                                                                          onFirstSignal: onSignal) {
            do {
                try await daemon.run(handlingSignals: false) { address in
                    print("moontune serve listening on \(address)")
                    fflush(nil)
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        do {
            try ran.get()
        } catch {
            let redactor = SecretRedactor.fromEnvironment(environment)
            FileHandle.standardError.write(Data(redactor.redact("moontune: \(error)\n").utf8))
            throw ExitCode(1)
        }
    }

    /// The `status --json` document of every job (`/api/jobs`).
    static func statusDocument(store: ProgressStore, databasePath: String) async throws -> String {
        var reports: [JobStatusReport] = []
        for job in try await store.allJobs() {
            reports.append(try await JobStatusReport.load(job, store: store, databasePath: databasePath))
        }
        return try StatusDocument(jobs: reports, budget: try await store.keyBudgets().nilIfEmpty,
                                  paces: try await store.keyPaces().nilIfEmpty).encoded()
    }
}

extension Array {
    /// nil for an empty array (a field then left out of a document).
    var nilIfEmpty: [Element]? { isEmpty ? nil : self }
}
