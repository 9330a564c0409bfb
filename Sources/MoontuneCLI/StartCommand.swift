import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneConsole
import MoontuneReport
import MoontuneLoop
import MoontuneStore
import Logging

/// `moontune start CONFIG`: the same job as `run`, detached in its own session.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the job in the background: checks the config first, then detaches and returns once the job is running.")

    @Argument(help: "The job config (JSON).")
    var config: String

    @OptionGroup var database: DatabaseOption

    @Option(help: "The log file (appended; default: <name>.log beside the database).")
    var log: String?

    @Option(name: .customLong("log-format"), help: "logfmt or json.")
    var logFormat: String = "logfmt"

    @Flag(name: .customLong("rewind-to-server"), help: "Passed on to run.")
    var rewindToServer = false

    @Flag(help: "Passed on to run: only errors and the final line in the log.") var quiet = false
    @Flag(help: "Passed on to run: every step and retry in the log.") var verbose = false

    @Option(help: "Seconds to wait for the job to record that it is running.")
    var timeout: Double = 20

    func run() async throws {
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be logfmt or json") }
        umask(0o077)
        let configURL = URL(fileURLWithPath: config)
        let databasePath = absolute(database.path)
        // The one way in (`JobAdmission`, as `run`, `submit` and `serve`). A first scan of a large
        // dataset takes seconds: off the cooperative pool (2 threads here), and a SIGTERM or SIGINT
        // meanwhile stops it (the next start indexes again).
        let result: Result<Admission, any Error> = try await GracefulShutdown.run(logger: Logger(label: "moontune")) {
            do { return .success(try await JobAdmission.admit(.file(configURL), databasePath: databasePath)) } catch { return .failure(error) }
        }
        let admission: Admission
        do {
            admission = try result.get()
            _ = try admission.config.api.apiKey(environment: ProcessInfo.processInfo.environment)
            try admission.config.reward.checkGraderKeys(environment: ProcessInfo.processInfo.environment)  // issue 24
        } catch SessionError.invalid(let problems) {
            for problem in problems { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let jobConfig = admission.config
        if JobLock.isHeld(databasePath: databasePath, jobName: jobConfig.name) {
            let store = try? ProgressStore(path: databasePath, readOnly: true)
            let job = try await store?.job(named: jobConfig.name)
            FileHandle.standardError.write(Data("moontune: \(SessionErrorText.alreadyRunning(jobConfig.name, pid: job?.pid))\n".utf8))
            throw ExitCode(1)
        }
        // A job that has done every step, or ended by early stop, has nothing to start (run says the same and exits 0).
        if let step = admission.completeAtStep {
            print("job \(jobConfig.name) is already complete at step \(step); nothing to start")
            return
        }
        let logPath = absolute(log ?? URL(fileURLWithPath: databasePath).deletingLastPathComponent()
            .appendingPathComponent("\(jobConfig.name).log").path)
        var arguments = ["run", configURL.path, "--db", databasePath, "--log-format", logFormat]
        if rewindToServer { arguments.append("--rewind-to-server") }
        if quiet { arguments.append("--quiet") }
        if verbose { arguments.append("--verbose") }
        let pid: pid_t
        do {
            pid = try Detached.spawn(arguments: arguments, logPath: logPath)
        } catch {
            FileHandle.standardError.write(Data("moontune: cannot start the job: \(error)\n".utf8))
            throw ExitCode(1)
        }
        // Hand-shake: the job has started once it holds its lock and records `running` with its pid.
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if let store = try? ProgressStore(path: databasePath, readOnly: true),
               let job = try? await store.job(named: jobConfig.name), job.pid == pid, job.state != .pending {
                if job.state == .running {
                    print("started job \(jobConfig.name): pid \(pid), log \(logPath)")
                    print("watch it with: moontune status \(jobConfig.name) --db \(databasePath)")
                    return
                }
                if job.state == .completed {
                    // A short job can finish before this loop looks.
                    print("job \(jobConfig.name) ran to completion (pid \(pid)); log \(logPath)")
                    return
                }
                break
            }
            if let status = Detached.exitStatus(pid) {
                if status == 0 {
                    print("job \(jobConfig.name) finished (pid \(pid)); log \(logPath)")
                    return
                }
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let tail = SecretRedactor.fromEnvironment().redact(Detached.tail(logPath, lines: 15))
        FileHandle.standardError.write(Data("moontune: the job did not start (pid \(pid)); the end of \(logPath):\n\(tail)\n".utf8))
        throw ExitCode(1)
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
    }
}

enum SessionErrorText {
    static func alreadyRunning(_ name: String, pid: Int32?) -> String {
        "job \(name) is already running\(pid.map { " (pid \($0))" } ?? ""); moontune runs one runner per job. "
            + "Use `moontune status \(name)` to watch it or `moontune stop \(name)` to stop it."
    }
}

/// Starting a process detached from this one: a new session, stdin from /dev/null, output
/// appended to a log file.
enum Detached {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    static func spawn(arguments: [String], logPath: String) throws -> pid_t {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard logFD >= 0 else { throw SpawnError(description: "cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }
        // The log may hold paths and errors: private to its owner even if it existed before.
        fchmod(logFD, 0o600)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        // Nothing else of ours is inherited: a pipe held open by the job would keep whoever reads
        // this command's output (a script, `make`) waiting until the job ends.
        closeFrom(3, &actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc): the job gets its own session, so closing the terminal does
        // not hang it up.
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(description: String(cString: strerror(result))) }
        return pid
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), looked up at run time: Swift's
    /// Glibc module does not declare it. On an older libc the descriptors are left alone.
    private static func closeFrom(_ lowest: Int32, _ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
        _ = addCloseFrom(&actions, lowest)
    }

    /// Reaps the child if it has exited (it is ours until this process ends).
    /// The child's exit status once it has exited (reaping it), else nil.
    static func exitStatus(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    static func tail(_ path: String, lines: Int) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
