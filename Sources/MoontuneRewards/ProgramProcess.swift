import MoontuneConfig
import Foundation
import Subprocess
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One running reward program, run by swift-subprocess inside one task that owns it from start
/// to end: its stdin fed from a stream of lines, its stdout read line by line into `lines`, its
/// stderr's tail kept for error messages. The program runs in a process group of its own, and
/// `terminate()` kills the whole group (a shell script's children too). Nothing blocks a thread:
/// the reads and writes are swift-subprocess's asynchronous I/O.
package final class ProgramProcess: Sendable {
    /// Lines longer than this end the program with an error instead of growing without bound.
    package static let maxLineBytes = 16 << 20
    /// How much of stderr an error message quotes.
    private static let stderrTailCharacters = 2000

    package let lines = LineMailbox()
    /// How the program is named in errors: its command line.
    package let name: String
    private let input: AsyncStream<[UInt8]>.Continuation
    private let state = SharedState()
    private let run: Task<Void, Never>

    private struct State {
        var stderrTail = ""
        /// The process group to kill: the child's pid (it leads its own group), once started.
        var group: pid_t?
        var terminated = false
    }

    /// The state the run's task and the caller share.
    private final class SharedState: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    /// Starts `command` through `/usr/bin/env` (so `python3` is found on PATH) in `directory`,
    /// without the variables `hidden` (the API key's) in its environment. A program that cannot
    /// be started is reported by the first `lines.next()`.
    package init(command: [String], directory: URL, hidden: [String]) throws(RewardError) {
        let name = command.joined(separator: " ")
        self.name = name
        Self.ignoreBrokenPipes
        let (stream, input) = AsyncStream.makeStream(of: [UInt8].self)
        self.input = input
        var platform = PlatformOptions()
        platform.processGroupID = 0  // a group of its own, led by the program
        platform.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .milliseconds(200))]
        var removed: [Environment.Key: String?] = [:]
        for variable in hidden { removed[Environment.Key(rawValue: variable)!] = .some(nil) }
        let environment = Environment.inherit.updating(removed)
        let lines = lines
        let state = state
        run = Task {
            let status: String
            do {
                let result = try await Subprocess.run(
                    .path("/usr/bin/env"), arguments: Arguments(command), environment: environment,
                    workingDirectory: FilePath(directory.path), platformOptions: platform,
                    input: .inputWriter, output: .sequence, error: .sequence
                ) { execution in
                    let pid = execution.processIdentifier.value
                    let killNow = state.withLock { state in
                        state.group = pid
                        return state.terminated
                    }
                    if killNow { Self.killGroup(pid) }
                    let writer = execution.standardInputWriter
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                for await chunk in stream { _ = try await writer.write(chunk) }
                                try await writer.finish()
                            } catch {
                                lines.close(RewardError(.programFailed, "reward program `\(name)` stopped reading its input (\(error))\(Self.note(state))"))
                            }
                        }
                        group.addTask {
                            for try await line in execution.standardError.strings(
                                separatedBy: .unicodeScalarSequence(["\n"]), bufferingPolicy: .maxLineLength(Self.maxLineBytes)) {
                                Self.appendStderr(line, to: state)
                            }
                        }
                        for try await line in execution.standardOutput.strings(
                            separatedBy: .unicodeScalarSequence(["\n"]), bufferingPolicy: .maxLineLength(Self.maxLineBytes)) {
                            lines.deliver(line)
                        }
                        // Its output is closed: whatever it does next, it answers no more.
                        input.finish()
                        try await group.waitForAll()
                    }
                }
                status = switch result.terminationStatus {
                case .exited(let code): "exited with status \(code)"
                case .signaled(let signal): "was killed by signal \(signal)"
                }
            } catch let error as SubprocessError where state.withLock({ $0.group == nil }) {
                status = "could not be started: \(error)"
            } catch {
                status = "failed: \(error)"
            }
            input.finish()
            state.withLock { $0.group = nil }
            lines.close(RewardError(.programFailed, "reward program `\(name)` \(status)\(Self.note(state))"))
        }
    }

    deinit {
        terminate()
    }

    /// Queues one line for the program's stdin.
    package func send(_ line: String) {
        input.yield(Array((line + "\n").utf8))
    }

    /// Kills the program's whole process group and closes its input. Idempotent.
    package func terminate() {
        let group = state.withLock { state in
            state.terminated = true
            return state.group
        }
        input.finish()
        if let group { Self.killGroup(group) }
    }

    /// Terminates the program and waits until its run has ended (its pipes closed, its process
    /// reaped).
    package func close() async {
        terminate()
        await run.value
    }

    /// `: <last lines of stderr>` when it wrote any.
    package func stderrNote() -> String { Self.note(state) }

    private static func note(_ state: SharedState) -> String {
        let tail = state.withLock { $0.stderrTail }.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines)
        return tail.isEmpty ? "" : "; its stderr ends: \(tail)"
    }

    private static func appendStderr(_ line: String, to state: SharedState) {
        state.withLock { state in
            state.stderrTail += line + "\n"
            if state.stderrTail.count > stderrTailCharacters { state.stderrTail = String(state.stderrTail.suffix(stderrTailCharacters / 2)) }
        }
    }

    /// The program's stdin is a pipe (swift-subprocess's), so a write after the program died
    /// raises SIGPIPE, whose default action would kill moontune mid-step. Ignored once, process
    /// wide, before the first program starts: the write then fails with EPIPE, which is reported
    /// as the program having stopped reading its input. (The earlier hand-written runner used a
    /// socket with MSG_NOSIGNAL for the same reason.)
    private static let ignoreBrokenPipes: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    private static func killGroup(_ group: pid_t) {
        kill(-group, SIGKILL)
    }
}

/// Lines from the program's stdout, handed to one waiting reader at a time.
package final class LineMailbox: @unchecked Sendable {
    // @unchecked: every mutable member is guarded by `lock`.
    private let lock = NSLock()
    private var lines: [String] = []
    private var waiter: CheckedContinuation<String, any Error>?
    private var closedWith: RewardError?

    package func deliver(_ line: String) {
        lock.lock()
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.resume(returning: line)
        } else {
            lines.append(line)
            lock.unlock()
        }
    }

    package func close(_ error: RewardError) {
        lock.lock()
        if closedWith == nil { closedWith = error }
        let waiter = self.waiter
        self.waiter = nil
        lock.unlock()
        waiter?.resume(throwing: error)
    }

    /// The next line; throws the close error once lines run out, or CancellationError.
    package func next() async throws -> String {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                lock.lock()
                if !lines.isEmpty {
                    let line = lines.removeFirst()
                    lock.unlock()
                    continuation.resume(returning: line)
                } else if let closedWith {
                    lock.unlock()
                    continuation.resume(throwing: closedWith)
                } else if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            let waiter = self.waiter
            self.waiter = nil
            lock.unlock()
            waiter?.resume(throwing: CancellationError())
        }
    }
}
