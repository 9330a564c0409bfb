import Foundation
import MoondreamSimulator
import Testing

extension EndToEnd {
    /// Off a terminal, `run` writes one structured line per step and per event, in logfmt or JSON,
    /// each with a timestamp, the job and (for steps) the step.
    @Suite struct OperationsLogTests {
        @Test func aBackgroundJobsLogHasOneLogfmtLinePerStepAndNothingElseUnparseable() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "logged", steps: 9, groups: 2, rollouts: 2, concurrency: 2, every: 3, eval: true)
                let started = try await workspace.run(["start", "config.json", "--log", "job.log"])
                #expect(started.status == 0, "\(started.stderr)")
                try await Operations.waitForState(workspace, "logged", "completed")

                let log = try String(contentsOf: workspace.directory.appendingPathComponent("job.log"), encoding: .utf8)
                let lines = log.split(separator: "\n").map(String.init)
                let parsed = lines.map(Operations.parseLogfmt)
                for (line, fields) in zip(lines, parsed) {
                    #expect(fields != nil, "not logfmt: \(line)")
                    #expect(fields?["ts"].flatMap(ISO8601DateFormatter.withFractions.date(from:)) != nil, "no timestamp: \(line)")
                    #expect(fields?["job"] == "logged", "no job: \(line)")
                }
                let steps = parsed.compactMap { $0 }.filter { $0["event"] == "step" }
                #expect(steps.compactMap { $0["step"].flatMap(Int.init) } == Array(1...9), "one line per step, in order")
                #expect(steps.allSatisfy { $0["reward_mean"].flatMap(Double.init) != nil && $0["total"] == "9" })
                let events = Set(parsed.compactMap { $0?["event"] })
                #expect(events.isSuperset(of: ["started", "checkpoint", "eval", "finished"]), "\(events)")
                #expect(!log.contains(MoontuneProcess.apiKey))
            }
        }

        @Test func aPipedRunWritesOneJSONLinePerStep() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "json", steps: 6, groups: 2, rollouts: 2, concurrency: 2, every: 3)
                let result = try await workspace.run(["run", "config.json", "--log-format", "json"])
                #expect(result.status == 0, "\(result.stderr)")
                let lines = result.stdout.split(separator: "\n").map(String.init)
                var steps: [Int] = []
                for line in lines {
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    #expect(object != nil, "not a JSON object: \(line)")
                    guard let object else { continue }
                    #expect(object["ts"] is String && object["job"] as? String == "json", "\(line)")
                    if object["event"] as? String == "step", let step = object["step"] as? Int { steps.append(step) }
                }
                #expect(steps == Array(1...6))
                #expect(!result.stdout.contains("\u{1B}["), "no terminal control codes off a terminal")
            }
        }

        @Test func quietKeepsOnlyTheOutcome() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "hush", steps: 4, groups: 2, rollouts: 2, concurrency: 2, every: 2)
                let result = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(result.status == 0, "\(result.stderr)")
                let events = result.stdout.split(separator: "\n").compactMap { Operations.parseLogfmt(String($0))?["event"] }
                #expect(!events.contains("checkpoint"), "\(result.stdout)")
                #expect(events.last == "finished", "\(result.stdout)")
                #expect(events.filter { $0 == "step" }.count <= 1, "at most the last step: \(result.stdout)")
            }
        }
    }
}

extension ISO8601DateFormatter {
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
