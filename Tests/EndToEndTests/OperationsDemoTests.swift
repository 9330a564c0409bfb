import Foundation
import Testing

extension EndToEnd {
    /// `make run`'s script, as `make run` runs it (the build aside): a real job against the simulator
    /// with the demo's own settings, the reward rising, a report written, and nothing left running.
    @Suite struct OperationsDemoTests {
        @Test func theDemoRunsAJobWhoseEvalRewardRisesAndLeavesNothingRunning() async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-demo-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: directory) }
            let script = OperationsDeploymentTests.repository.appendingPathComponent("scripts/demo.sh")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script.path]
            var environment = ProcessInfo.processInfo.environment
            environment["MOONTUNE_BIN"] = MoontuneProcess.binary.path
            environment["DEMO_DIR"] = directory.path
            environment.removeValue(forKey: "MOONTUNE_DB")
            process.environment = environment
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-demo-\(UUID().uuidString.prefix(8)).txt")
            defer { try? FileManager.default.removeItem(at: output) }
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            let started = ContinuousClock.now
            let done = AsyncStream<Void> { continuation in
                process.terminationHandler = { _ in continuation.finish() }
            }
            try process.run()
            let pid = process.processIdentifier
            // Like every child of the tests, the demo has a timeout: killed (with its process
            // group) and failed, with its output, rather than hanging the suite.
            let ended = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in done {}
                    return !Task.isCancelled
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(180))
                    return false
                }
                let first = await group.next() ?? true
                if !first {
                    kill(-pid, SIGKILL)
                    kill(pid, SIGKILL)
                }
                group.cancelAll()
                return first
            }
            let elapsed = ContinuousClock.now - started
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            try #require(ended, "the demo did not end within 180 s; killed. Its output:\n\(text.suffix(4000))")

            #expect(process.terminationStatus == 0, "\(text)")
            // Well under a minute on a quiet machine; the bound leaves room for the other suites running alongside.
            #expect(elapsed < .seconds(90), "took \(elapsed)")
            #expect(text.contains("job shapes-demo: completed, step 50 of 50"), "status is printed: \(text)")
            #expect(text.contains("moondream3-preview/"), "with the checkpoints' model strings")
            let report = directory.appendingPathComponent("report.html")
            #expect(text.contains(report.path) || text.contains("report.html"), "the report's path is printed")
            #expect(FileManager.default.fileExists(atPath: report.path))

            // The simulator is gone, and no process of ours still uses the demo's folder.
            let simulatorPID = try #require(Int32(try String(contentsOf: directory.appendingPathComponent("simulator.pid"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(!Operations.isAlive(simulatorPID), "the simulator was left running")
            #expect(Operations.processes(mentioning: directory.path).isEmpty, "left running: \(Operations.processes(mentioning: directory.path))")

            // The reward visibly rises: the eval at the end is well above the eval before training.
            let csv = try String(contentsOf: directory.appendingPathComponent("metrics.csv"), encoding: .utf8)
            let rows = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let header = try #require(rows.first)
            let kind = try #require(header.firstIndex(of: "kind")), mean = try #require(header.firstIndex(of: "reward_mean"))
            let evals = rows.dropFirst().filter { $0[kind] == "eval" }.compactMap { Double($0[mean]) }
            let first = try #require(evals.first), last = try #require(evals.last)
            #expect(evals.count >= 3)
            #expect(last - first >= 0.3, "eval reward \(evals)")
        }
    }
}

extension Operations {
    /// Pids of live processes whose command line mentions `text`.
    static func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard pid != getpid(), isAlive(pid),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
        }
    }
}
