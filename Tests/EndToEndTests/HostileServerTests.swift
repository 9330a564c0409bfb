import Foundation
import MoontuneStore
import Testing

/// One way a server can answer badly, and what moontune must say about it.
struct HostileCase: Sendable, CustomTestStringConvertible {
    var title: String
    var route: HostileRoute
    var answer: HostileAnswer
    /// In the job's last_error and on the terminal.
    var fragment: String

    var testDescription: String { title }

    /// Bigger than the job's response cap (`api.max_response_bytes`, 256 KiB in these tests).
    static let enormous = #"{"request":{},"rollouts":[{"output":{"points":[]},"pad":""# + String(repeating: "x", count: 1 << 20) + #""}]}"#

    static let all: [HostileCase] = [
        HostileCase(title: "rollouts: not JSON", route: .rollouts, answer: .text("<html><body>502 Bad Gateway</body></html>"),
                    fragment: "POST /tuning/rollouts: HTTP 200 undecodable response: the answer is not a JSON object"),
        HostileCase(title: "rollouts: an empty body", route: .rollouts, answer: .text(""),
                    fragment: "POST /tuning/rollouts: HTTP 200 undecodable response: the answer is not a JSON object"),
        HostileCase(title: "rollouts: the echoed request missing", route: .rollouts,
                    answer: .text(#"{"rollouts":[{"output":{"points":[]}},{"output":{"points":[]}}],"rewards":[0,0]}"#),
                    fragment: "missing 'request' object"),
        HostileCase(title: "rollouts: no rollouts", route: .rollouts, answer: .text(#"{"request":{},"rollouts":[]}"#),
                    fragment: "no rollouts in the answer"),
        HostileCase(title: "rollouts: more rewards than rollouts", route: .rollouts,
                    answer: .text(#"{"request":{},"rollouts":[{"output":{"points":[]}},{"output":{"points":[]}}],"rewards":[1,0,1]}"#),
                    fragment: "3 rewards for 2 rollouts"),
        HostileCase(title: "rollouts: NaN rewards", route: .rollouts,
                    answer: .text(#"{"request":{},"rollouts":[{"output":{"points":[]}},{"output":{"points":[]}}],"rewards":[NaN,0]}"#),
                    fragment: "the answer is not a JSON object"),
        HostileCase(title: "rollouts: rewards beyond a double", route: .rollouts,
                    answer: .text(#"{"request":{},"rollouts":[{"output":{"points":[]}},{"output":{"points":[]}}],"rewards":[1e999,0]}"#),
                    fragment: "'rewards' is not a list of numbers"),
        HostileCase(title: "rollouts: rewards as strings", route: .rollouts,
                    answer: .text(#"{"request":{},"rollouts":[{"output":{"points":[]}},{"output":{"points":[]}}],"rewards":["1","0"]}"#),
                    fragment: "'rewards' is not a list of numbers"),
        HostileCase(title: "rollouts: an enormous body", route: .rollouts, answer: .text(enormous),
                    fragment: "POST /tuning/rollouts: response too large"),
        HostileCase(title: "create finetune: no finetune_id", route: .createFinetune, answer: .text(#"{"id":"01H"}"#),
                    fragment: "POST /tuning/finetunes: HTTP 200 undecodable response: the answer does not match the reference: missing field 'finetune_id'"),
        HostileCase(title: "create finetune: an enormous body", route: .createFinetune, answer: .text(enormous),
                    fragment: "POST /tuning/finetunes: response too large"),
        HostileCase(title: "save checkpoint: a step that is a string", route: .saveCheckpoint,
                    answer: .text(#"{"checkpoint":{"checkpoint_id":"c","finetune_id":"f","step":"ten"}}"#),
                    fragment: "wrong type at 'checkpoint.step'"),
        HostileCase(title: "save checkpoint: a step beyond 64 bits", route: .saveCheckpoint,
                    answer: .text(#"{"checkpoint":{"checkpoint_id":"c","finetune_id":"f","step":99999999999999999999999}}"#),
                    fragment: "/checkpoints/save: HTTP 200 undecodable response"),
        HostileCase(title: "list checkpoints: truncated JSON", route: .listCheckpoints,
                    answer: .text(#"{"checkpoints":[{"checkpoint_id":"c","finet"#),
                    fragment: "/checkpoints: HTTP 200 undecodable response: the answer does not match the reference: not valid JSON"),
    ]
}

extension EndToEnd {
    /// A server that answers the tuning endpoints with garbage cannot crash moontune: the job stops
    /// with a clear error, exits non-zero (not by a signal) and records the failure in the database.
    @Suite struct HostileServerTests {
        static let cap = 256 << 10

        func workspace() async throws -> Workspace {
            try await Workspace.make(skills: ["point"], images: 4)
        }

        func writeConfig(_ workspace: Workspace, baseURL: String, name: String) throws {
            try workspace.writeConfig(name: name, steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 1,
                                      extraAPI: ["base_url": baseURL, "max_attempts": 2, "max_backoff_s": 0.05,
                                                 "max_response_bytes": Self.cap])
        }

        @Test(arguments: HostileCase.all)
        func aHostileAnswerFailsTheJobCleanly(_ hostile: HostileCase) async throws {
            try await withWorkspace(try await workspace()) { workspace in
                try await HostileServer.with({ $0 == hostile.route ? hostile.answer : nil }) { server, baseURL in
                    try writeConfig(workspace, baseURL: baseURL, name: "hostile")
                    let result = try await workspace.run(["run", "config.json"])

                    #expect(!result.killedBySignal, "moontune died of a signal: \(result.stderr)")
                    #expect(result.status == 1, "exit \(result.status)\nstdout: \(result.stdout)\nstderr: \(result.stderr)")
                    // The run's last line says why (`event=finished state=failed ... error="..."` when not on a terminal).
                    let finished = result.stdout.split(separator: "\n").last { $0.contains("event=finished") }
                    #expect(finished?.contains("state=failed") == true && finished?.contains(hostile.fragment) == true,
                            "stdout: \(result.stdout.suffix(3000))\nstderr: \(result.stderr.prefix(3000))")
                    let job = try #require(try await workspace.job("hostile"))
                    #expect(job.state == .failed)
                    #expect(job.lastError?.contains(hostile.fragment) == true, "last_error: \(job.lastError ?? "nil")")
                    #expect(server.step == 0, "no step may be applied on a bad answer")
                    #expect(try await workspace.steps("hostile").isEmpty, "no step recorded")
                    // Bad answers are not worth repeating: at most the configured attempts per request.
                    let calls = server.requests[hostile.route] ?? 0
                    #expect(calls >= 1 && calls <= 2 * 2, "\(hostile.route) called \(calls) times")
                }
            }
        }

        /// Outputs that make no sense — coordinates far outside the image, a list that is not one —
        /// are scored by the local rewards as misses (0), never as NaN, and the job goes on.
        @Test func absurdRolloutOutputsScoreZeroWithLocalRewards() async throws {
            try await withWorkspace(try await workspace()) { workspace in
                let absurd = HostileAnswer.text(#"""
                    {"request":{"skill":"point"},"rollouts":[{"output":{"points":[{"x":1e308,"y":-1e308}]}},
                     {"output":{"points":"nope"}}],"rewards":[1,1]}
                    """#)
                try await HostileServer.with({ $0 == .rollouts ? absurd : nil }) { server, baseURL in
                    try workspace.writeConfig(name: "absurd", steps: 2, groups: 2, rollouts: 2, concurrency: 2, every: 1,
                                              extraAPI: ["base_url": baseURL], extra: ["reward": ["source": "local"]])
                    let result = try await workspace.run(["run", "config.json"])

                    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
                    #expect(server.step == 2)
                    let steps = try await workspace.steps("absurd")
                    #expect(steps.map(\.k) == [1, 2])
                    #expect(steps.allSatisfy { $0.rewardMean == 0 && $0.rewardMax == 0 }, "\(steps.map(\.rewardMean))")
                }
            }
        }

        /// A train_step whose success answer is garbage or too big still landed: the job learns that
        /// from the server (checkpoints/save says which step it is at) and goes on exactly once.
        @Test(arguments: [
            ("not JSON", HostileAnswer.text("<html>ok</html>", applies: true), false),
            ("enormous", HostileAnswer.text(HostileCase.enormous, applies: true), true),
        ])
        func aBadTrainStepAnswerIsReconciledNotRepeated(_ title: String, _ answer: HostileAnswer, _ reconciled: Bool) async throws {
            try await withWorkspace(try await workspace()) { workspace in
                try await HostileServer.with({ $0 == .trainStep ? answer : nil }) { server, baseURL in
                    try writeConfig(workspace, baseURL: baseURL, name: "train-garbage")
                    let result = try await workspace.run(["run", "config.json"])

                    #expect(result.status == 0, "\(title): \(result.stderr)")
                    #expect(server.step == 2, "\(title): train_step applied \(server.step) times for 2 steps")
                    #expect(server.requests[.trainStep] == 2)
                    let steps = try await workspace.steps("train-garbage")
                    #expect(steps.map(\.k) == [1, 2])
                    #expect(steps.allSatisfy { $0.state == .applied && $0.reconciled == reconciled }, "\(title): \(steps.map(\.reconciled))")
                    #expect(try await workspace.job("train-garbage")?.state == .completed)
                }
            }
        }
    }
}
