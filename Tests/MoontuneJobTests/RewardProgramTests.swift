import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("External reward program")
struct RewardProgramTests {
    private let example = Example(index: 0, id: "q1", line: 3, skill: .query, image: nil, question: "color?", answers: ["red"])

    private func rollouts(_ answers: [String]) throws -> [Rollout] {
        try answers.map { Rollout(raw: try RawJSON(validating: #"{"skill": "query", "output": {"answer": "\#($0)"}, "meta": [1]}"#), skill: .query) }
    }

    /// A reward program from Python source, in a temporary folder.
    private func program(_ source: String, timeout: Duration = .seconds(10), hidden: [String] = []) throws -> (RewardProgram, TemporaryFolder) {
        let folder = try TemporaryFolder()
        try folder.write("reward.py", source)
        let program = RewardProgram(command: ["python3", "reward.py"], timeout: timeout, workingDirectory: folder.url,
                                    hiddenEnvironment: hidden)
        return (program, folder)
    }

    private func failure(_ body: () async throws -> Void) async -> RewardError? {
        do {
            try await body()
            return nil
        } catch let error as RewardError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func programScoresEachGroupAndIsKeptAlive() async throws {
        let (program, _folder) = try program("""
            import json, sys
            groups = 0
            for line in sys.stdin:
                request = json.loads(line)
                groups += 1
                accepted = request["example"]["answers"]
                rewards = [(1.0 if o["answer"] == accepted[0] else 0.0) + groups * 10 for o in request["outputs"]]
                print(json.dumps({"rewards": rewards}), flush=True)
            """)
        defer { withExtendedLifetime(_folder) {} }
        let first = try await program.rewards(for: example, rollouts: try rollouts(["red", "blue", "red"]), serverRewards: nil)
        #expect(first == [11, 10, 11])
        // The same process answers again: its group counter went on.
        let second = try await program.rewards(for: example, rollouts: try rollouts(["blue"]), serverRewards: nil)
        #expect(second == [20])
        await program.stop()
    }

    /// `close()` ends the program's scope: its whole process group dies, a child it started too,
    /// and the next group starts a fresh program.
    @Test func closeKillsTheProgramsWholeProcessGroup() async throws {
        let (program, folder) = try program("""
            import json, subprocess, sys
            child = subprocess.Popen(["sleep", "30"])
            for line in sys.stdin:
                print(json.dumps({"rewards": [child.pid]}), flush=True)
            """)
        let answer = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil)
        let child = Int32(answer[0])
        #expect(Self.isAlive(child))
        await program.close()
        let deadline = ContinuousClock.now + .seconds(5)
        while Self.isAlive(child), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!Self.isAlive(child), "the program's child survived close()")
        // A fresh program answers the next group.
        let again = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil)
        #expect(Int32(again[0]) != child)
        await program.close()
        withExtendedLifetime(folder) {}
    }

    /// Running or stopped, not a zombie and not gone.
    private static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    @Test func bareListAnswerIsAccepted() async throws {
        let (program, _folder) = try program("""
            import json, sys
            for line in sys.stdin:
                print(json.dumps([0.5] * len(json.loads(line)["outputs"])), flush=True)
            """)
        defer { withExtendedLifetime(_folder) {} }
        #expect(try await program.rewards(for: example, rollouts: try rollouts(["a", "b"]), serverRewards: [0.1, 0.2]) == [0.5, 0.5])
        await program.stop()
    }

    @Test func crashIsAClearErrorNamingTheProgramAndItsStderr() async throws {
        let (program, _folder) = try program("""
            import sys
            sys.stdin.readline()
            sys.stderr.write("boom: cannot score\\n")
            sys.exit(3)
            """)
        defer { withExtendedLifetime(_folder) {} }
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) }
        #expect(error?.kind == .programFailed)
        #expect(error?.message.contains("reward program `python3 reward.py` exited with status 3") == true)
        #expect(error?.message.contains("boom: cannot score") == true)
    }

    @Test func programIsRestartedAfterACrash() async throws {
        let (program, folder) = try program("""
            import json, os, sys
            marker = "crashed-once"
            line = sys.stdin.readline()
            if not os.path.exists(marker):
                open(marker, "w").close()
                sys.exit(1)
            print(json.dumps([1.0] * len(json.loads(line)["outputs"])), flush=True)
            """)
        defer { withExtendedLifetime(folder) {} }
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) }
        #expect(error?.kind == .programFailed)
        #expect(try await program.rewards(for: example, rollouts: try rollouts(["a", "b"]), serverRewards: nil) == [1, 1])
        await program.stop()
    }

    @Test func wrongCountIsAnError() async throws {
        let (program, _folder) = try program("""
            import sys
            for line in sys.stdin:
                print('{"rewards": [1.0]}', flush=True)
            """)
        defer { withExtendedLifetime(_folder) {} }
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a", "b", "c"]), serverRewards: nil) }
        #expect(error?.kind == .wrongCount)
        #expect(error?.message == #"reward program `python3 reward.py` answered 1 rewards for 3 rollouts of example "q1""#)
        await program.stop()
    }

    @Test func nanRewardIsAnError() async throws {
        let (program, _folder) = try program("""
            import json, sys
            for line in sys.stdin:
                print(json.dumps({"rewards": [1.0, float("nan")]}), flush=True)
            """)
        defer { withExtendedLifetime(_folder) {} }
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a", "b"]), serverRewards: nil) }
        #expect(error?.kind == .nonFinite)
        #expect(error?.message.contains("non-finite reward (NaN) at position 1") == true)
        #expect(error?.message.contains("python3 reward.py") == true)
    }

    @Test func answerThatIsNotJSONIsAnError() async throws {
        let (program, _folder) = try program("""
            import sys
            for line in sys.stdin:
                print("debug: got a line", flush=True)
            """)
        defer { withExtendedLifetime(_folder) {} }
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) }
        #expect(error?.kind == .programAnsweredBadly)
        #expect(error?.message.contains("print logs to stderr") == true)
    }

    @Test func silentProgramTimesOut() async throws {
        let (program, _folder) = try program("""
            import sys, time
            sys.stdin.readline()
            time.sleep(30)
            """, timeout: .milliseconds(500))
        defer { withExtendedLifetime(_folder) {} }
        let started = ContinuousClock.now
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) }
        #expect(error?.kind == .programTimedOut)
        #expect(error?.message.contains("gave no answer within 0.5 s") == true)
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    @Test func missingProgramIsAClearError() async throws {
        let program = RewardProgram(command: ["moontune-no-such-program-xyz"], timeout: .seconds(5),
                                    workingDirectory: FileManager.default.temporaryDirectory)
        let error = await failure { _ = try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) }
        #expect(error?.kind == .programFailed)
        #expect(error?.message.contains("moontune-no-such-program-xyz") == true)
    }

    @Test func programDoesNotSeeTheAPIKeyVariable() async throws {
        let variable = "MOONTUNE_TEST_SECRET_\(UInt32.random(in: 0...UInt32.max))"
        setenv(variable, "secret", 1)
        defer { unsetenv(variable) }
        let (program, _folder) = try program("""
            import json, os, sys
            for line in sys.stdin:
                print(json.dumps([1.0 if "\(variable)" in os.environ else 0.0]), flush=True)
            """, hidden: [variable])
        defer { withExtendedLifetime(_folder) {} }
        #expect(try await program.rewards(for: example, rollouts: try rollouts(["a"]), serverRewards: nil) == [0])
        await program.stop()
    }

    @Test func requestLineCarriesTheExampleOutputsAndServerRewards() throws {
        let example = Example(index: 2, id: "d7", line: 9, skill: .detect, image: URL(fileURLWithPath: "/data/a.png"), object: "car",
                              groundTruth: .boxes([Box(xMin: 0.1, yMin: 0.2, xMax: 0.3, yMax: 0.4)]))
        let rollout = Rollout(raw: try RawJSON(validating: #"{"skill": "detect", "output": {"objects": [], "id": 18446744073709551615}}"#), skill: .detect)
        let line = RewardProgram.requestLine(example: example, rollouts: [rollout], serverRewards: [0.25])
        #expect(line == #"{"example":{"id":"d7","line":9,"skill":"detect","image":"/data/a.png","object":"car","ground_truth":{"boxes":[{"x_min":0.1,"y_min":0.2,"x_max":0.3,"y_max":0.4}]}},"outputs":[{"objects":[],"id":18446744073709551615}],"server_rewards":[0.25]}"#)
    }

    @Test func configWithACommandMakesAProgramScorer() throws {
        let folder = try TemporaryFolder()
        let url = try folder.config(minimalConfig(top: #""reward": {"command": ["python3", "r.py"], "command_timeout_s": 2}"#))
        let config = try JobConfig.load(from: url).config
        #expect(try makeRewardScorer(config: config) is ProgramRewardScorer)
        let plain = try JobConfig.load(from: try folder.config(minimalConfig(), name: "plain.json")).config
        #expect(try makeRewardScorer(config: plain) is BuiltinRewardScorer)
    }
}
