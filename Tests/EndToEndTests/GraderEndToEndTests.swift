import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MoontuneStore
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A stand-in judge on 127.0.0.1:0 speaking OpenAI chat completions: it scores the line
/// `ANSWER: ...` of the prompt with `score(answer)`, answers in the shapes real judges use (a bare
/// JSON object, a ```json fence with prose, a bare number, content parts), fails now and then
/// (500) and answers slowly now and then, answers 503 "model is loading" while down, and counts
/// the calls in flight.
final class StandInJudge: Sendable {
    static let key = "judge-e2e-SECRET-9f8e7d6c5b"

    struct State {
        var up = true
        var calls = 0
        var inFlight = 0
        var maxInFlight = 0
        var unauthorized = 0
        var refusedWhileDown = 0
        /// Every answer scored, with its score.
        var scored: [(answer: String, score: Double)] = []
    }

    let state = Mutex(State())
    func setUp(_ up: Bool) { state.withLock { $0.up = up } }

    /// The judge's score of an answer: a function of its text alone, so a test can recompute it.
    static func score(_ answer: String) -> Double { Double(answer.unicodeScalars.count % 5) / 4 }

    /// - Parameter port: 0 (any free port) but for a test that needs a judge to appear where nothing listened.
    static func with<T: Sendable>(port: Int = 0, _ body: @Sendable (StandInJudge, String) async throws -> T) async throws -> T {
        let judge = StandInJudge()
        let router = Router()
        router.post("/v1/chat/completions") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 8 << 20)
            return try await judge.answer(authorization: request.headers[.authorization], body: Data(bytes.readableBytesView))
        }
        return try await LocalServer.serve(router, port: port, name: "stand-in judge") { bound in
            try await body(judge, "http://127.0.0.1:\(bound)/v1")
        }
    }

    private func answer(authorization: String?, body: Data) async throws -> Response {
        let call = state.withLock { state -> Int? in
            guard state.up else { state.refusedWhileDown += 1; return nil }
            state.calls += 1
            state.inFlight += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight)
            return state.calls
        }
        guard let call else { return Self.json(503, #"{"error": {"message": "model is loading"}}"#) }
        defer { state.withLock { $0.inFlight -= 1 } }
        guard authorization == "Bearer \(Self.key)" else {
            state.withLock { $0.unauthorized += 1 }
            return Self.json(401, #"{"error": {"message": "bad key"}}"#)
        }
        if call % 5 == 0 { try await Task.sleep(for: .milliseconds(300)) }  // slow answers
        if call % 7 == 0 { return Self.json(500, #"{"error": {"message": "overloaded"}}"#) }  // failures, retried
        let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        let parts = ((object?["messages"] as? [[String: Any]])?.first?["content"] as? [[String: Any]]) ?? []
        let prompt = parts.compactMap { $0["text"] as? String }.joined()
        guard parts.contains(where: { ($0["image_url"] as? [String: Any])?["url"] as? String != nil }) else {
            return Self.json(400, #"{"error": {"message": "no image attached"}}"#)
        }
        let answer = prompt.split(separator: "\n").first { $0.hasPrefix("ANSWER: ") }.map { String($0.dropFirst(8)) } ?? ""
        let score = Self.score(answer)
        state.withLock { $0.scored.append((answer, score)) }
        let content: Any = switch call % 4 {
        case 0: #"{"score": \#(score)}"#
        case 1: "The answer is judged below.\n```json\n{\"score\": \(score), \"reason\": \"compared with the reference\"}\n```"
        case 2: "\(score)"
        default: [["type": "text", "text": #"{"score": "#], ["type": "text", "text": "\(score)}"]]
        }
        let reply: [String: Any] = ["id": "chatcmpl-\(call)", "object": "chat.completion", "model": "judge-1",
                                    "choices": [["index": 0, "message": ["role": "assistant", "content": content], "finish_reason": "stop"]],
                                    "usage": ["prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15]]
        return Self.json(200, String(decoding: try JSONSerialization.data(withJSONObject: reply), as: UTF8.self))
    }

    static func json(_ status: Int, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

extension EndToEnd {
    /// Issue 24: graders on the real binary against the simulator and a stand-in judge.
    @Suite struct GraderTests {
        static let prompt = "Question: {question}\nReference: {reference}\nANSWER: {answer}\nReply with JSON {\"score\": s}, s from 0 to 1."

        static func graders(judgeURL: String, concurrency: Int = 2) -> [String: Any] {
            ["graders": [
                ["name": "match", "type": "builtin", "weight": 0.2],
                ["name": "overlap", "type": "text_similarity", "metric": "token_f1", "weight": 0.3],
                ["name": "judge", "type": "model", "weight": 0.5, "base_url": judgeURL, "model": "judge-1",
                 "api_key_env": "JUDGE_API_KEY", "prompt": prompt, "image": true, "concurrency": concurrency, "timeout_s": 10],
            ]]
        }

        /// Token F1 as docs/rewards.md defines it, written again here so the test does not trust the library's.
        /// A JSON number as JSONSerialization gives it (an NSNumber on Linux).
        static func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }

        static func words(_ text: String) -> [String] {
            text.lowercased().split(whereSeparator: \.isWhitespace)
                .map { $0.trimmingCharacters(in: CharacterSet.punctuationCharacters.union(.symbols)) }
                .filter { !$0.isEmpty && !["a", "an", "the"].contains($0) }
        }

        static func tokenF1(_ answer: String, _ reference: String) -> Double {
            let a = words(answer), r = words(reference)
            if a.isEmpty && r.isEmpty { return 1 }
            var left = r, common = 0
            for word in a { if let i = left.firstIndex(of: word) { left.remove(at: i); common += 1 } }
            guard common > 0 else { return 0 }
            let p = Double(common) / Double(a.count), q = Double(common) / Double(r.count)
            return 2 * p * q / (p + q)
        }

        @Test func aJobWithAJudgeThatIsDownAtFirstWaitsVisiblyThenCompletesWithEveryScore() async throws {
            try await StandInJudge.with { judge, judgeURL in
                try await withWorkspace(skills: ["query"], images: 8, seed: 24) { workspace in
                    try await Self.trainWithAJudgeDownAtFirst(judge, judgeURL, workspace)
                }
            }
        }

        /// Nothing listens where the judge should be (connections refused) when the job starts: the
        /// step waits, visibly; then the judge starts there, and the job completes with every score.
        @Test func aJudgeThatRefusesConnectionsAtFirstIsWaitedForUntilItListens() async throws {
            try await withWorkspace(skills: ["query"], images: 6, seed: 26) { workspace in
                try await Self.waitForAJudgeThatIsNotThereYet(workspace)
            }
        }

        /// SIGTERM while the step waits on the judge: the job stops (state `stopped`, exit 0), it
        /// does not fail, and nothing was trained.
        @Test func aGracefulStopWhileWaitingOnTheJudgeStopsTheJob() async throws {
            try await withWorkspace(skills: ["query"], images: 6, seed: 27) { workspace in
                try await Self.stopWhileWaitingOnTheJudge(workspace)
            }
        }

        static func stopWhileWaitingOnTheJudge(_ workspace: Workspace) async throws {
            let closed = try EndToEnd.WaitTests.ClosedPort()
            try workspace.writeConfig(name: "stopped", steps: 2, groups: 2, rollouts: 2, every: 2,
                                      extra: ["reward": Self.graders(judgeURL: closed.baseURL)])
            let running = try MoontuneProcess.start(["run", "config.json", "--db", workspace.database.path], in: workspace.directory,
                                                    environment: ["JUDGE_API_KEY": StandInJudge.key])
            var waiting = false
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, !waiting {
                if FileManager.default.fileExists(atPath: workspace.database.path),
                   let status = try? await Operations.status(workspace, job: "stopped"),
                   let wait = status["waiting"] as? [String: Any], (wait["endpoint"] as? String ?? "").contains("grader judge") {
                    waiting = true
                } else {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(waiting, "no wait on the judge: \(running.stdoutSoFar.suffix(2000))")
            let signalled = ContinuousClock.now
            running.signal(SIGTERM)
            let result = await running.wait(timeout: .seconds(60))
            #expect(ContinuousClock.now - signalled < .seconds(10))
            #expect(result.status == 0, "\(result.stderr.suffix(2000))")
            let status = try await Operations.status(workspace, job: "stopped")
            #expect(status["state"] as? String == "stopped", "\(status)")
            #expect(status["step"] as? Int == 0)
            withExtendedLifetime(closed) {}
        }

        static func waitForAJudgeThatIsNotThereYet(_ workspace: Workspace) async throws {
            var closed: EndToEnd.WaitTests.ClosedPort? = try EndToEnd.WaitTests.ClosedPort()
            let port = closed?.port ?? 0
            try workspace.writeConfig(name: "later", steps: 2, groups: 2, rollouts: 2, every: 2,
                                      extra: ["reward": Self.graders(judgeURL: "http://127.0.0.1:\(port)/v1")])
            let running = try MoontuneProcess.start(["run", "config.json", "--db", workspace.database.path], in: workspace.directory,
                                                    environment: ["JUDGE_API_KEY": StandInJudge.key])
            var waiting: [String: Any] = [:]
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, waiting.isEmpty {
                if FileManager.default.fileExists(atPath: workspace.database.path),
                   let status = try? await Operations.status(workspace, job: "later"),
                   let wait = status["waiting"] as? [String: Any], (wait["endpoint"] as? String ?? "").contains("grader judge") {
                    waiting = wait
                    #expect((status["step"] as? Int) == 0)
                } else {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(!waiting.isEmpty, "no wait on the judge in status: \(running.stdoutSoFar.suffix(2000))")
            #expect("\(waiting)".contains("refused"), "\(waiting)")
            closed = nil  // the port is free: the judge comes up there
            #expect(closed == nil)
            try await StandInJudge.with(port: port) { judge, _ in
                let result = await running.wait(timeout: .seconds(180))
                #expect(result.status == 0, "\(result.stderr.suffix(2000))")
                #expect(judge.state.withLock { $0.scored.count } >= 2 * 2 * 2)
            }
            let export = try await workspace.run(["export", "later", "--format", "jsonl"])
            let rows = export.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.filter { $0["kind"] as? String == "step" }
            #expect(rows.count == 2 && rows.allSatisfy { Self.number($0["reward_judge"]) != nil }, "\(export.stdout)")
        }

        /// The body of `aJobWithAJudgeThatIsDownAtFirst...`, apart: Swift 6.3.1's region analysis crashes on it as a nested closure.
        static func trainWithAJudgeDownAtFirst(_ judge: StandInJudge, _ judgeURL: String, _ workspace: Workspace) async throws {
                do {
                    let steps = 4, groups = 3, rollouts = 4
                    try workspace.writeConfig(name: "graded", steps: steps, groups: groups, rollouts: rollouts, every: 2,
                                              extra: ["reward": Self.graders(judgeURL: judgeURL)])
                    judge.setUp(false)
                    let running = try MoontuneProcess.start(["run", "config.json", "--db", workspace.database.path], in: workspace.directory,
                                                            environment: ["JUDGE_API_KEY": StandInJudge.key])
                    // The wait on the judge is visible in status before anything trains.
                    var shown: [String: Any] = [:]
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        if FileManager.default.fileExists(atPath: workspace.database.path),
                           let status = try? await Operations.status(workspace, job: "graded"),
                           let waiting = status["waiting"] as? [String: Any], (waiting["endpoint"] as? String ?? "").contains("grader judge") {
                            shown = status
                            break
                        }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    #expect(!shown.isEmpty, "no wait on the judge in status: \(running.stdoutSoFar.suffix(2000))")
                    #expect((shown["step"] as? Int) == 0, "a step trained while the judge was down")
                    #expect(running.stdoutSoFar.contains("grader judge"), "the log shows no wait on the judge")
                    try await Task.sleep(for: .seconds(1))
                    judge.setUp(true)
                    let result = await running.wait(timeout: .seconds(180))
                    #expect(result.status == 0, "\(result.stderr.suffix(2000))")
                    #expect(judge.state.withLock { $0.refusedWhileDown } > 0)
                    #expect(judge.state.withLock { $0.unauthorized } == 0)

                    // Concurrency held.
                    let peak = judge.state.withLock { $0.maxInFlight }
                    #expect(peak <= 2 && peak >= 1, "peak \(peak)")
                    // Every rollout trained on has the judge's score.
                    #expect(judge.state.withLock { $0.scored.count } >= steps * groups * rollouts)

                    // Per step: every grader's mean recorded, and the reward mean is their weighted sum.
                    let export = try await workspace.run(["export", "graded", "--format", "jsonl"])
                    #expect(export.status == 0, "\(export.stderr)")
                    let rows = export.stdout.split(separator: "\n").compactMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    }.filter { $0["kind"] as? String == "step" }
                    #expect(rows.count == steps)
                    let judgeScores = Set(judge.state.withLock { $0.scored.map(\.score) })
                    for row in rows {
                        let match = Self.number(row["reward_match"]), overlap = Self.number(row["reward_overlap"])
                        let judged = Self.number(row["reward_judge"]), mean = Self.number(row["reward_mean"])
                        guard let match, let overlap, let judged, let mean else {
                            Issue.record("step \(row["step"] ?? "?") lacks a grader's mean: \(row)")
                            continue
                        }
                        #expect(abs(mean - (0.2 * match + 0.3 * overlap + 0.5 * judged)) < 1e-9, "\(row)")
                        #expect((0...1).contains(judged) && !judgeScores.isEmpty)
                    }
                    // status and the report show the graders.
                    let status = try await Operations.status(workspace, job: "graded")
                    #expect((status["graders"] as? [String: Any])?.keys.sorted() == ["judge", "match", "overlap"], "\(status)")
                    let report = try await workspace.run(["report", "graded", "--out", "report.html"])
                    #expect(report.status == 0, "\(report.stderr)")
                    let html = try String(contentsOf: workspace.directory.appendingPathComponent("report.html"), encoding: .utf8)
                    #expect(html.contains("Graders") && html.contains("judge"))

                    // The judge's key is nowhere: database (with its WAL), log, report, export, status.
                    let text = try await workspace.run(["status", "graded"])
                    var places: [(String, Data)] = [("stdout", Data(result.stdout.utf8)), ("stderr", Data(result.stderr.utf8)),
                                                    ("report", Data(html.utf8)), ("export", Data(export.stdout.utf8)),
                                                    ("status", Data(text.stdout.utf8))]
                    for suffix in ["", "-wal", "-shm"] {
                        if let data = FileManager.default.contents(atPath: workspace.database.path + suffix) { places.append(("db" + suffix, data)) }
                    }
                    for (place, data) in places {
                        #expect(data.range(of: Data(StandInJudge.key.utf8)) == nil, "the judge's key is in the \(place)")
                    }
                }
        }

        @Test func gradeScoresGivenAnswersWithEveryGraderAndCallsNoTuningEndpoint() async throws {
            try await StandInJudge.with { judge, judgeURL in
                try await withWorkspace(skills: ["query"], images: 6, seed: 25) { workspace in
                    try await Self.gradeGivenAnswers(judge, judgeURL, workspace)
                }
            }
        }

        /// The body of the test above, apart (see `trainWithAJudgeDownAtFirst`).
        static func gradeGivenAnswers(_ judge: StandInJudge, _ judgeURL: String, _ workspace: Workspace) async throws {
                do {
                    try workspace.writeConfig(name: "graded", steps: 2, extra: ["reward": Self.graders(judgeURL: judgeURL, concurrency: 3)])
                    let train = try String(contentsOf: workspace.directory.appendingPathComponent("train.jsonl"), encoding: .utf8)
                    let examples = train.split(separator: "\n").prefix(3).compactMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    }
                    #expect(examples.count == 3)
                    var inputs: [(id: String, answer: String, reference: String)] = []
                    for (index, example) in examples.enumerated() {
                        let id = example["id"] as? String ?? "", reference = example["answer"] as? String ?? ""
                        let answer = [reference, "The \(reference.uppercased()) one.", "purple"][index]
                        inputs.append((id, answer, reference))
                    }
                    let lines = try inputs.map { String(decoding: try JSONSerialization.data(withJSONObject: ["example_id": $0.id, "answer": $0.answer]), as: UTF8.self) }
                    try (lines.joined(separator: "\n") + "\n").write(to: workspace.directory.appendingPathComponent("answers.jsonl"), atomically: true, encoding: .utf8)
                    let before = await workspace.simulator.stats().requestsTotal

                    let result = try await MoontuneProcess.run(["grade", "config.json", "--answers", "answers.jsonl", "--json"],
                                                               in: workspace.directory, environment: ["JUDGE_API_KEY": StandInJudge.key],
                                                               timeout: .seconds(60))
                    #expect(result.status == 0, "\(result.stderr)")
                    let outputs = result.stdout.split(separator: "\n").compactMap {
                        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                    }
                    #expect(outputs.count == inputs.count, "\(result.stdout)")
                    for (input, output) in zip(inputs, outputs) {
                        #expect(output["example_id"] as? String == input.id)
                        let graders = (output["graders"] as? [String: Any] ?? [:]).compactMapValues { Self.number($0) }
                        let match: Double = Self.words(input.answer) == Self.words(input.reference) ? 1 : 0
                        let overlap = Self.tokenF1(input.answer, input.reference)
                        let judged = StandInJudge.score(input.answer)
                        #expect(graders["match"] == match, "\(input) → \(output)")
                        #expect(abs((graders["overlap"] ?? -1) - overlap) < 1e-12, "\(input) → \(output)")
                        #expect(graders["judge"] == judged, "\(input) → \(output)")
                        #expect(abs((Self.number(output["reward"]) ?? -1) - (0.2 * match + 0.3 * overlap + 0.5 * judged)) < 1e-12)
                    }
                    #expect(await workspace.simulator.stats().requestsTotal == before, "grade called the tuning API")
                    #expect(!result.stdout.contains(StandInJudge.key) && !result.stderr.contains(StandInJudge.key))

                    // Bad lines: every one located, before any judge call.
                    let calls = judge.state.withLock { $0.calls }
                    try "\(lines[0])\n{\"example_id\": \"no-such-example\", \"answer\": \"red\"}\n{\"example_id\": \"\(inputs[0].id)\"}\nnot json\n"
                        .write(to: workspace.directory.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
                    let bad = try await MoontuneProcess.run(["grade", "config.json", "--answers", "bad.jsonl"], in: workspace.directory,
                                                            environment: ["JUDGE_API_KEY": StandInJudge.key], timeout: .seconds(60))
                    #expect(bad.status == 2, "\(bad.stdout) \(bad.stderr)")
                    #expect(bad.stderr.contains("bad.jsonl:3: answer"), "\(bad.stderr)")
                    #expect(bad.stderr.contains("bad.jsonl:4:"), "\(bad.stderr)")
                    #expect(judge.state.withLock { $0.calls } == calls, "a judge was called for a file with bad lines")
                    let unknown = try await MoontuneProcess.run(["grade", "config.json", "--answers", "bad2.jsonl"], in: workspace.directory,
                                                                environment: ["JUDGE_API_KEY": StandInJudge.key], timeout: .seconds(60))
                    #expect(unknown.status == 2, "a missing answers file: \(unknown.stderr)")
                    try "{\"example_id\": \"no-such-example\", \"answer\": \"red\"}\n"
                        .write(to: workspace.directory.appendingPathComponent("bad3.jsonl"), atomically: true, encoding: .utf8)
                    let missing = try await MoontuneProcess.run(["grade", "config.json", "--answers", "bad3.jsonl"], in: workspace.directory,
                                                                environment: ["JUDGE_API_KEY": StandInJudge.key], timeout: .seconds(60))
                    #expect(missing.status == 2 && missing.stderr.contains("bad3.jsonl:1: example_id"), "\(missing.stderr)")

                    // validate's cost estimate counts the judge's calls: one per rollout (2 steps × 4 groups × 4 rollouts).
                    let validate = try await MoontuneProcess.run(["validate", "config.json"], in: workspace.directory, timeout: .seconds(60))
                    #expect(validate.status == 0 && validate.stdout.contains("grader \"judge\": 32 chat completions calls"), "\(validate.stdout)")

                    // probe reports each grader, so a user sees before training whether it gives signal.
                    let probe = try await MoontuneProcess.run(["probe", "config.json", "--examples", "3", "--json"], in: workspace.directory,
                                                              environment: ["JUDGE_API_KEY": StandInJudge.key], timeout: .seconds(120))
                    #expect(probe.status == 0, "\(probe.stderr)")
                    let analysis = try? JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any]
                    let figures = ((analysis?["temperatures"] as? [[String: Any]])?.first?["graders"] as? [String: [String: Any]]) ?? [:]
                    #expect(figures.keys.sorted() == ["judge", "match", "overlap"], "\(probe.stdout)")
                    #expect(figures.values.allSatisfy { Self.number($0["mean_score"]) != nil && Self.number($0["signal_fraction"]) != nil })
                    #expect(!probe.stdout.contains(StandInJudge.key) && !probe.stderr.contains(StandInJudge.key))
                }
        }
    }
}
