import ArgumentParser
import Foundation
import MoondreamAPI
import Logging
import MoontuneJob
import MoontuneConsole
import MoontuneReport
import MoontuneLoop
import MoontuneServe
import MoontuneStore

/// `moontune run CONFIG`: the job in the foreground.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run (or resume) the job a config describes, in the foreground.",
        discussion: """
            Creates the job and its finetune on the first run and resumes it on every later one. Exits 0 once every \
            step is done and the final checkpoint is saved, or after a graceful stop (SIGTERM/SIGINT). A job that \
            is already complete is left unchanged.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @OptionGroup var database: DatabaseOption

    @Flag(name: .customLong("rewind-to-server"),
          help: "If the server's finetune is behind the record (restored from an older checkpoint), continue from the server's step.")
    var rewindToServer = false

    @Option(name: .customLong("log-format"), help: "Structured log format when not on a terminal: logfmt or json.")
    var logFormat: String = "logfmt"

    @Flag(help: "Only errors and the final line.") var quiet = false
    @Flag(help: "Every step and retry.") var verbose = false

    func run() async throws {
        guard let format = LogFormat(rawValue: logFormat) else {
            throw ValidationError("--log-format must be logfmt or json")
        }
        umask(0o077)
        // A full disk or a file-size limit must fail the write (and stop the job cleanly), not
        // kill the process.
        signal(SIGXFSZ, SIG_IGN)
        let interactive = isatty(STDOUT_FILENO) == 1
        let verbosity: Verbosity = quiet ? .quiet : (verbose ? .verbose : .normal)
        // The job's name and key, if the config can be read at all (JobSession reports why not):
        // every line then carries the job, and the key itself is masked wherever it might appear.
        let loaded = try? JobConfig.load(from: URL(fileURLWithPath: config)).config
        let environment = ProcessInfo.processInfo.environment
        let key = loaded.flatMap { environment[$0.api.apiKeyEnv] }.map { [$0] } ?? []
        let redactor = SecretRedactor(secrets: key + SecretRedactor.fromEnvironment(environment).secrets)
        let observer = ConsoleObserver(interactive: interactive, format: format, verbosity: verbosity, job: loaded?.name,
                                       redactor: redactor)
        // The loop's own log entries: the same structured lines and the same redaction, on stderr.
        let errors = RedactingSink.standardError(redactor)
        var logger = Logger(label: "moontune") { _ in StructuredLogHandler(format: format, sink: errors) }
        logger.logLevel = verbose ? .info : .error
        let request = RunRequest(configURL: URL(fileURLWithPath: config), databasePath: database.path, rewindToServer: rewindToServer,
                                 observer: observer, logger: logger)
        // A graceful stop waits for the train_step in flight, which its own timeout bounds; past
        // that (and a margin), or at a second signal, the run exits at once and the next reconciles.
        let gracefulBound = loaded.map { Duration.seconds($0.api.trainStepTimeoutSeconds + GracefulShutdown.gracefulMargin) }
            ?? GracefulShutdown.maximumGracefulDuration
        let onSignal: @Sendable (String) -> Void = { name in
            observer.stopRequested(by: name)
        }
        let result: Result<SessionResult, any Error> = try await GracefulShutdown.run(logger: logger, maximumGracefulDuration: gracefulBound, onFirstSignal: onSignal) {
            await withTaskGroup(of: Void.self) { ticker in
                if interactive {
                    ticker.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .milliseconds(500))
                            observer.tick()
                        }
                    }
                }
                let result: Result<SessionResult, any Error>
                do {
                    result = .success(try await JobSession.run(request))
                } catch {
                    result = .failure(error)
                }
                ticker.cancelAll()
                return result
            }
        }
        switch result {
        case .success(.alreadyComplete(let step)):
            print("job is already complete at step \(step); nothing to do")
        case .success(.ran(let outcome)):
            // The job's end is told as under `serve`: its webhook, from the recorded config.
            if let name = loaded?.name {
                await JobEndNotice.tell(jobName: name, databasePath: database.path, environment: environment, logger: logger)
            }
            if outcome.state == .failed {
                if !interactive {
                    // The structured log has it too; stderr is where a person looks first.
                    let line = "moontune: job failed at step \(outcome.step): \(outcome.error ?? "unknown error")\n"
                    errors.write(line)
                }
                throw ExitCode(1)
            }
        case .failure(let error as SessionError):
            errors.write("moontune: \(error)\n")
            if case .invalid = error { throw ExitCode(2) }
            throw ExitCode(1)
        case .failure(let error):
            errors.write("moontune: \(error)\n")
            throw ExitCode(1)
        }
    }
}
