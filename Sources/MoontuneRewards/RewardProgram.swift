import MoontuneConfig
import MoontuneDataset
import MoontuneJSON
import Foundation
import MoondreamAPI

/// An external reward program (`reward.command`), started once and kept alive.
///
/// Protocol, one group at a time: moontune writes one JSON line to the program's stdin,
/// `{"example": {...}, "outputs": [...], "server_rewards": [...] | null}`, and the program answers
/// one line on stdout: `{"rewards": [r1, r2, ...]}` or a bare `[r1, r2, ...]`, one finite number
/// per output, in order. Anything it writes to stderr is kept for error messages.
///
/// A crash, a timeout, a wrong count, a non-finite number or an answer that is not such JSON is a
/// `RewardError` naming the program; the process is then killed and the next group starts a
/// fresh one.
public actor RewardProgram {
    public let command: [String]
    public let timeout: Duration
    private let workingDirectory: URL
    private let hiddenEnvironment: [String]
    private var running: ProgramProcess?
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// `hiddenEnvironment` names variables the program must not see (the API key's).
    public init(command: [String], timeout: Duration, workingDirectory: URL, hiddenEnvironment: [String] = []) {
        self.command = command
        self.timeout = timeout
        self.workingDirectory = workingDirectory
        self.hiddenEnvironment = hiddenEnvironment
    }

    private var name: String { command.joined(separator: " ") }

    /// The program's rewards for one group.
    public func rewards(for example: Example, rollouts: [Rollout], serverRewards: [Double]?) async throws(RewardError) -> [Double] {
        let line = Self.requestLine(example: example, rollouts: rollouts, serverRewards: serverRewards)
        let answer = try await exchange(line)
        return try parse(answer, expected: rollouts.count, example: example)
    }

    /// Kills the program's process group without waiting (it also sees its input close when
    /// moontune exits). `close()` is the scoped end.
    public func stop() {
        running?.terminate()
        running = nil
    }

    /// Ends the program's scope: kills its process group and waits until its process is reaped
    /// and its pipes are closed. Idempotent; the next group would start a fresh program.
    public func close() async {
        let process = running
        running = nil
        await process?.close()
    }

    /// Sends one line and waits for one line back, one group at a time.
    private func exchange(_ line: String) async throws(RewardError) -> String {
        await acquire()
        defer { release() }
        let process: ProgramProcess
        if let running {
            process = running
        } else {
            process = try ProgramProcess(command: command, directory: workingDirectory, hidden: hiddenEnvironment)
            running = process
        }
        process.send(line)
        do {
            return try await Self.nextLine(of: process, within: timeout, name: name)
        } catch {
            // The exchange is out of step (or the program is gone): start afresh next time.
            running = nil
            await process.close()
            if let error = error as? RewardError { throw error }
            throw RewardError(.programFailed, "reward program `\(name)`: interrupted (\(error))")
        }
    }

    private static func nextLine(of process: ProgramProcess, within timeout: Duration, name: String) async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { try await process.lines.next() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw RewardError(.programTimedOut, "reward program `\(name)` gave no answer within \(timeout.seconds) s (reward.command_timeout_s)\(process.stderrNote())")
            }
            defer { group.cancelAll() }
            guard let line = try await group.next() else {
                throw RewardError(.programFailed, "reward program `\(name)` gave no answer")
            }
            return line
        }
    }

    private func parse(_ answer: String, expected: Int, example: Example) throws(RewardError) -> [Double] {
        let shown = answer.count > 200 ? String(answer.prefix(200)) + "…" : answer
        let bad = { (why: String) in
            RewardError(.programAnsweredBadly, "reward program `\(self.name)` answered \(why) for example \"\(example.id)\": \(shown)")
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(Array(answer.utf8), allowNonFinite: true)
        } catch {
            throw bad("something that is not JSON (\(error.message); print logs to stderr, not stdout)")
        }
        let list = root["rewards"] ?? root
        guard case .array(let elements) = list.value else {
            throw bad("neither {\"rewards\": [...]} nor a list")
        }
        var rewards: [Double] = []
        for (position, element) in elements.enumerated() {
            guard case .number(let number) = element.value else { throw bad("a reward that is not a number at position \(position)") }
            guard number.double.isFinite else {
                throw RewardError(.nonFinite, "reward program `\(name)` answered a non-finite reward (\(number.literal)) at position \(position) for example \"\(example.id)\"")
            }
            rewards.append(number.double)
        }
        guard rewards.count == expected else {
            throw RewardError(.wrongCount, "reward program `\(name)` answered \(rewards.count) rewards for \(expected) rollouts of example \"\(example.id)\"")
        }
        return rewards
    }

    // MARK: - One group at a time

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }

    // MARK: - Request

    /// The JSON line of one group: the example as the dataset gave it, and each rollout's output
    /// exactly as the server sent it (null when it had none).
    package static func requestLine(example: Example, rollouts: [Rollout], serverRewards: [Double]?) -> String {
        let outputs: [JSONValue] = rollouts.map { rollout in
            guard let raw = rollout.raw["output"], let node = try? JSONParser.parse(raw.bytes) else { return .null }
            return node.value
        }
        let request = JSONValue.members([
            "example": example.json,
            "outputs": .list(outputs),
            "server_rewards": serverRewards.map { .list($0.map(JSONValue.double)) } ?? .null,
        ])
        return request.serialized()
    }
}

extension Duration {
    /// Whole and fractional seconds, for messages.
    package var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
