import Foundation
import MoondreamSimulator
import MoontuneStore
import Testing

extension EndToEnd {
    /// Bad input is refused before any API call, with one message naming file, line and field, and
    /// leaves an existing job's record alone. Every case runs the real binary against a database that
    /// already holds a completed job, `prior`, and a simulator that counts requests.
    @Suite(.serialized, .priorJob) struct BadInputTests {
        var prior: PriorJob {
            get throws { try #require(PriorJob.current, "the suite's prior job was not set up") }
        }

        var folder: CaseFolder {
            get throws { CaseFolder(directory: try prior.workspace.directory, baseURL: try prior.workspace.simulator.baseURL) }
        }

        /// `moontune validate CONFIG` in the workspace (it takes no database).
        func validate(_ config: String) async throws -> MoontuneProcess.Result {
            try await MoontuneProcess.run(["validate", config], in: try prior.workspace.directory)
        }

        @Test(arguments: BadInputCases.all)
        func runRefusesBeforeAnyRequestAndNamesTheSpot(_ bad: BadInput) async throws {
            let prior = try prior
            let config = try bad.prepare(try folder)
            let before = await prior.workspace.simulator.stats().requestsTotal

            let result = try await prior.workspace.run(["run", config])

            #expect(!result.killedBySignal, "moontune died of a signal: \(result.stderr)")
            #expect(result.status == 2, "exit \(result.status); stderr: \(result.stderr.prefix(2000))")
            let problems = result.stderr.split(separator: "\n")
            #expect(problems.count == 1, "one message expected, got:\n\(result.stderr.prefix(4000))")
            let named = bad.linesNamingLocation(in: result.stderr)
            #expect(named.count == 1, "no line names \(bad.location); stderr:\n\(result.stderr.prefix(4000))")
            #expect(named.first?.contains(bad.fragment) == true, "\(named.first ?? "") does not say \(bad.fragment)")
            #expect(result.stdout.isEmpty, "stdout: \(result.stdout.prefix(2000))")
            #expect(await prior.workspace.simulator.stats().requestsTotal == before, "the bad run reached the API")
            #expect(try await prior.current() == prior.snapshot, "the prior job's record changed")
        }

        /// `validate` says the same thing as `run`, with exit status 2 and the problem on stdout.
        @Test(arguments: ["c01", "c09", "c17", "c21", "c34", "d03", "d09", "d15", "d20", "d22", "d27", "d35"])
        func validateReportsTheSameProblem(_ id: String) async throws {
            let prior = try prior
            let bad = try #require(BadInputCases.all.first { $0.id == id })
            let config = try bad.prepare(try folder)
            let before = await prior.workspace.simulator.stats().requestsTotal

            let result = try await validate(config)

            #expect(result.status == 2, "exit \(result.status); stderr: \(result.stderr.prefix(2000))")
            let named = bad.linesNamingLocation(in: result.stdout)
            #expect(named.count == 1 && named.first?.contains(bad.fragment) == true, "stdout:\n\(result.stdout.prefix(4000))")
            #expect(result.stderr.contains("1 problem found; nothing was sent anywhere"), "stderr: \(result.stderr)")
            #expect(await prior.workspace.simulator.stats().requestsTotal == before)
        }

        /// Several problems at once: `validate` and `run` list every one, not just the first.
        @Test func everyProblemIsListedNotJustTheFirst() async throws {
            let prior = try prior
            let folder = try folder
            let bad = [
                CaseFolder.pointLine("m1", truth: #"{"points": [{"x": 1.5, "y": 0.5}]}"#),
                CaseFolder.queryLine("m2"),
                #"{"id": "m3", "skill": "segment"}"#,
                CaseFolder.pointLine("m4", image: "../escape.png"),
            ].joined(separator: "\n")
            let config = try folder.dataset("m00", bad: bad) {
                $0.rank = "12"
                $0.train = #"{"steps": 0, "lr": -1}"#
            }
            let expected = [
                "m00.json:3: rank: ", "m00.json:6: train.steps: ", "m00.json:6: train.lr: ",
                "m00.jsonl:3: ground_truth.points[0].x: ", "m00.jsonl:5: skill: ", "m00.jsonl:6: image: ",
            ]
            let before = await prior.workspace.simulator.stats().requestsTotal

            let validated = try await validate(config)
            #expect(validated.status == 2)
            #expect(validated.stderr.contains("\(expected.count) problems found"), "\(validated.stderr)")
            let ran = try await prior.workspace.run(["run", config])
            #expect(ran.status == 2)
            for output in [validated.stdout, ran.stderr] {
                let lines = output.split(separator: "\n")
                #expect(lines.count == expected.count, "\(output)")
                for location in expected {
                    #expect(lines.contains { $0.contains("/" + location) || $0.hasPrefix(location) || $0.contains(" " + location) },
                            "\(location) missing from:\n\(output)")
                }
            }
            #expect(await prior.workspace.simulator.stats().requestsTotal == before)
            #expect(try await prior.current() == prior.snapshot)
        }

        /// The control: a byte order mark and CRLF line endings, in the config and in the dataset,
        /// are accepted, and the job runs (so the request counter above could have moved).
        @Test func byteOrderMarkAndCRLFAreAccepted() async throws {
            let prior = try prior
            let folder = try folder
            let lines = try String(contentsOf: folder.url("train.jsonl"), encoding: .utf8).split(separator: "\n")
            let crlf = lines.joined(separator: "\r\n") + "\r\n\r\n"
            try folder.write("bom.jsonl", [0xEF, 0xBB, 0xBF] + Array(crlf.utf8))
            var config = ConfigText()
            config.name = #""bom-crlf""#
            config.data = #"{"train": "bom.jsonl"}"#
            let text = config.text(baseURL: folder.baseURL).replacingOccurrences(of: "\n", with: "\r\n")
            try folder.write("bom.json", [0xEF, 0xBB, 0xBF] + Array(text.utf8))
            let before = await prior.workspace.simulator.stats().requestsTotal

            let validated = try await validate("bom.json")
            #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
            #expect(validated.stdout.contains("\(lines.count) examples"), "\(validated.stdout)")
            let result = try await prior.workspace.run(["run", "bom.json"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(try await prior.workspace.job("bom-crlf")?.state == .completed)
            #expect(await prior.workspace.simulator.stats().requestsTotal > before)
            var after = try await prior.current()
            #expect(after.jobCount == prior.snapshot.jobCount + 1)
            after.jobCount = prior.snapshot.jobCount
            #expect(after == prior.snapshot, "another job's run changed the prior job")
        }
    }
}
