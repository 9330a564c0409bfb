import MoontuneConfig
import MoontuneDataset
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One running reward program: its process, a socket for its stdin, and dedicated threads that
/// read its stdout and stderr, so no blocking read ever runs on the cooperative pool.
package final class ProgramProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched at start and termination; the rest is guarded by
    // `lock` or is immutable.
    private let process = Process()
    private let input: Int32
    package let lines = LineMailbox()
    private let lock = NSLock()
    private var stderrTail = ""
    private var exitDescription: String?
    /// How the program is named in errors: its command line.
    package let name: String

    /// Starts `command` through `/usr/bin/env` (so `python3` is found on PATH) in `directory`,
    /// without the variables `hidden` (the API key's) in its environment.
    package init(command: [String], directory: URL, hidden: [String]) throws(RewardError) {
        name = command.joined(separator: " ")
        var sockets: [Int32] = [0, 0]
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        // A socket rather than a pipe for stdin: writes use MSG_NOSIGNAL, so a program that has
        // died gives EPIPE instead of a SIGPIPE that would kill moontune.
        guard socketpair(AF_UNIX, type, 0, &sockets) == 0 else {
            throw RewardError(.programFailed, "reward program `\(name)`: cannot create its input: \(String(cString: strerror(errno)))")
        }
        input = sockets[0]
        let childInput = FileHandle(fileDescriptor: sockets[1], closeOnDealloc: true)
        let output = Pipe(), errors = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        for variable in hidden { environment.removeValue(forKey: variable) }
        process.environment = environment
        process.standardInput = childInput
        process.standardOutput = output
        process.standardError = errors
        process.terminationHandler = { [weak self] finished in
            let description = finished.terminationReason == .uncaughtSignal
                ? "was killed by signal \(finished.terminationStatus)" : "exited with status \(finished.terminationStatus)"
            self?.record(exit: description)
        }
        do {
            try process.run()
        } catch {
            close(sockets[0])
            try? childInput.close()
            throw RewardError(.programFailed, "reward program `\(name)` could not be started: \(error.localizedDescription)")
        }
        try? childInput.close()
        startReader(output.fileHandleForReading, label: "stdout") { [lines] line in lines.deliver(line) } atEnd: { [weak self] in
            self?.outputEnded()
        }
        startReader(errors.fileHandleForReading, label: "stderr") { [weak self] line in self?.appendStderr(line) } atEnd: {}
    }

    deinit {
        close(input)
    }

    /// Writes one line on a dedicated thread; a failure closes the mailbox with a clear error.
    package func send(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        let thread = Thread { [self] in
            var sent = 0
            while sent < bytes.count {
                let result = bytes.withUnsafeBytes { buffer in
                    Self.sendWithoutSignal(input, buffer.baseAddress.map { $0 + sent }, bytes.count - sent)
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    lines.close(RewardError(.programFailed, "reward program `\(name)` stopped reading its input (\(String(cString: strerror(errno))))\(stderrNote())"))
                    return
                }
                sent += result
            }
        }
        thread.name = "moontune reward program input"
        thread.start()
    }

    private static func sendWithoutSignal(_ socket: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.send(socket, bytes, count, Int32(MSG_NOSIGNAL))
        #else
        return Darwin.send(socket, bytes, count, 0)
        #endif
    }

    /// Kills the program; its threads end when its output closes.
    package func terminate() {
        shutdown(input, Int32(SHUT_RDWR))
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// `: <last lines of stderr>` when it wrote any.
    package func stderrNote() -> String {
        lock.lock()
        defer { lock.unlock() }
        let tail = stderrTail.trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.isEmpty ? "" : "; its stderr ends: \(tail)"
    }

    // MARK: - Threads

    /// The thread holds `handle`, so its descriptor stays open (and cannot be reused by another
    /// file) until the thread has read to the end.
    private func startReader(_ handle: FileHandle, label: String, onLine: @escaping @Sendable (String) -> Void,
                             atEnd: @escaping @Sendable () -> Void) {
        let thread = Thread {
            let descriptor = handle.fileDescriptor
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: buffer[0..<count])
                while let newline = pending.firstIndex(of: 0x0A) {
                    onLine(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
            atEnd()
            withExtendedLifetime(handle) {}
        }
        thread.name = "moontune reward program \(label)"
        thread.start()
    }

    private func appendStderr(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        stderrTail += line + "\n"
        if stderrTail.count > 2000 { stderrTail = String(stderrTail.suffix(1000)) }
    }

    private func record(exit description: String) {
        lock.lock()
        exitDescription = description
        lock.unlock()
    }

    /// Runs on the stdout thread: waits briefly for the exit status, so the error can say it.
    private func outputEnded() {
        for _ in 0..<100 {
            lock.lock()
            let known = exitDescription
            lock.unlock()
            if known != nil || !process.isRunning { break }
            usleep(10_000)
        }
        usleep(20_000)  // lets the stderr thread take the last lines
        lock.lock()
        let how = exitDescription ?? "closed its output"
        lock.unlock()
        lines.close(RewardError(.programFailed, "reward program `\(name)` \(how)\(stderrNote())"))
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
