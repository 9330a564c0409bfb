import Foundation

/// The progress line of `compare`, on stderr: redrawn in place on a terminal, a line per tenth
/// otherwise.
package final class CompareProgress: @unchecked Sendable {
    // @unchecked: every mutable member is guarded by `lock`.
    private let lock = NSLock()
    private let total: Int
    private let label: String
    private let interactive: Bool
    private var done = 0
    private var retries = 0
    private var lastTenth = -1
    private let started = ContinuousClock.now

    package init(total: Int, label: String, interactive: Bool = isatty(STDERR_FILENO) == 1) {
        self.total = total
        self.label = label
        self.interactive = interactive
    }

    package func retried() {
        lock.withLock { retries += 1 }
    }

    package func answered() {
        lock.withLock {
            done += 1
            let tenth = total > 0 ? done * 10 / total : 10
            if interactive {
                emit("\r\(line())")
            } else if tenth != lastTenth {
                lastTenth = tenth
                emit(line() + "\n")
            }
        }
    }

    /// The closing line.
    package func finish() {
        lock.withLock {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            emit((interactive ? "\r" : "") + line() + String(format: ", %.1f s\n", seconds))
        }
    }

    private func line() -> String {
        "compare: \(done)/\(total) answers (\(label)), \(retries) retries"
    }

    private func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
