import Foundation
import Synchronization
import Testing

/// The real `moontune` binary, run as a user would: a child process with its own environment,
/// output captured to files (no pipe can fill up), waited for without blocking a thread.
struct MoontuneProcess: Sendable {
    static let apiKey = "sk-e2e-SECRET-0123456789"
    /// How long any child may run before it is killed and its test fails.
    static let defaultTimeout: Duration = .seconds(120)

    /// `.build/debug/moontune` of this package, or `$MOONTUNE_BIN`.
    static var binary: URL {
        if let override = ProcessInfo.processInfo.environment["MOONTUNE_BIN"] { return URL(fileURLWithPath: override) }
        var root = URL(fileURLWithPath: #filePath)
        while root.path != "/" && !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/moontune")
    }

    struct Result: Sendable {
        var status: Int32
        var reason: Process.TerminationReason
        var stdout: String
        var stderr: String
        var killedBySignal: Bool { reason == .uncaughtSignal }
    }

    final class Running: Sendable {
        let process: ProcessBox
        let stdoutURL: URL
        let stderrURL: URL
        private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        init(process: ProcessBox, stdoutURL: URL, stderrURL: URL) {
            self.process = process
            self.stdoutURL = stdoutURL
            self.stderrURL = stderrURL
        }

        var pid: Int32 { process.value.processIdentifier }

        func signal(_ number: Int32) { kill(pid, number) }

        func markDone() {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.done = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        /// Waits for the process to end (never blocking a thread) and collects its output.
        ///
        /// A child that is still running after `timeout` is killed with its process group, and the
        /// test fails with what it printed: a hung child must fail CI, not hang it.
        func wait(timeout: Duration = MoontuneProcess.defaultTimeout) async -> Result {
            let ended = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await self.exited()
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let first = await group.next() ?? true
                if !first {
                    // Timed out: the exit waiter ends once the kill lands.
                    kill(-pid, SIGKILL)
                    kill(pid, SIGKILL)
                }
                group.cancelAll()
                await group.waitForAll()
                return first
            }
            let stdout = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
            let stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
            if !ended {
                let arguments = (process.value.arguments ?? []).joined(separator: " ")
                let message = "moontune \(arguments) did not end within \(timeout); killed.\n"
                    + "stdout:\n\(stdout.suffix(4000))\nstderr:\n\(stderr.suffix(4000))"
                Issue.record(Comment(rawValue: message))
            }
            return Result(status: process.value.terminationStatus, reason: process.value.terminationReason, stdout: stdout, stderr: stderr)
        }

        private func exited() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let finished = state.withLock { state -> Bool in
                    if state.done { return true }
                    state.waiter = continuation
                    return false
                }
                if finished { continuation.resume() }
            }
        }

        /// Output so far.
        var stdoutSoFar: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
        var stderrSoFar: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    }

    /// Starts `moontune ARGS` in `directory`.
    static func start(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:],
                      executable: URL? = nil, prefix: [String] = []) throws -> Running {
        let process = Process()
        process.executableURL = executable ?? binary
        process.arguments = prefix + arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["MOONDREAM_API_KEY"] = apiKey
        environment.removeValue(forKey: "MOONTUNE_DB")
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        let id = UUID().uuidString.prefix(8)
        let stdoutURL = directory.appendingPathComponent("out-\(id).txt")
        let stderrURL = directory.appendingPathComponent("err-\(id).txt")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        process.standardInput = FileHandle.nullDevice
        let running = Running(process: ProcessBox(process), stdoutURL: stdoutURL, stderrURL: stderrURL)
        process.terminationHandler = { _ in running.markDone() }
        try process.run()
        return running
    }

    /// Runs `moontune ARGS` to the end.
    static func run(_ arguments: [String], in directory: URL, environment: [String: String] = [:],
                    executable: URL? = nil, timeout: Duration = defaultTimeout) async throws -> Result {
        try await start(arguments, in: directory, environment: environment, executable: executable).wait(timeout: timeout)
    }
}

/// Foundation's Process is not Sendable; it is only touched through this box, from the test.
final class ProcessBox: @unchecked Sendable {
    let value: Process
    init(_ value: Process) { self.value = value }
}
