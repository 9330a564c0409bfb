import Foundation
import MoondreamSimulator
import Testing

extension EndToEnd {
    /// Issue 22: against a limiter that says nothing but 429 and a whole-second Retry-After (the
    /// simulator's `--rate-limit`), the real binary paces itself to the limit: the job completes
    /// exactly and almost never hears 429.
    @Suite struct RateLimitEndToEndTests {
        @Test func aJobAgainstATokenBucketCompletesExactlyWithFew429s() async throws {
            var faults = FaultOptions()
            faults.rateLimitPerSecond = 10
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "paced", steps: 16, groups: 4, rollouts: 2, concurrency: 4, every: 8)
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(2000))")
                let stats = await workspace.simulator.stats()
                let finetune = try #require(await workspace.finetune("paced"))
                #expect(finetune.trainStepsApplied == 16)
                #expect(stats.doubleApplications == 0)
                let refused = stats.responsesByStatus["429"] ?? 0
                let answered = stats.responsesByStatus["200"] ?? 0
                #expect(refused >= 1, "the limiter was hit at least once (it is what the pace is learnt from)")
                // Unpaced, the same job is answered 429 about as often as 200 (issue 22's table).
                #expect(Double(refused) <= 0.10 * Double(answered), "\(refused) 429s for \(answered) accepted requests")

                // status --json shows the pace the run learnt, and its 429s, by key id only.
                let text = try await workspace.run(["status", "--json"])
                #expect(!text.stdout.contains(MoontuneProcess.apiKey))
                let document = try #require(try JSONSerialization.jsonObject(with: Data(text.stdout.utf8)) as? [String: Any])
                let paces = try #require(document["key_paces"] as? [[String: Any]])
                let pace = try #require(paces.first { $0["source"] as? String == "run paced" })
                #expect(pace["rate_limited"] as? Int == refused)
                let rate = try #require(pace["pace_per_s"] as? Double)
                #expect(rate > 5 && rate < 12, "the pace in force is near the limit of 10/s, got \(rate)")
                let human = try await workspace.run(["status"])
                #expect(human.stdout.contains("pace per API key"))
                #expect(!human.stdout.contains(MoontuneProcess.apiKey))
            }
        }

        @Test func theStatedLimitIsKeptFromTheStart() async throws {
            var faults = FaultOptions()
            faults.rateLimitPerSecond = 8
            try await withWorkspace(faults: faults) { workspace in
                try workspace.writeConfig(name: "stated", steps: 6, groups: 4, rollouts: 2, concurrency: 4, every: 6,
                                          extraAPI: ["max_requests_per_s": 6])
                let result = try await workspace.run(["run", "config.json"])
                #expect(result.status == 0, "\(result.stderr)\n\(result.stdout.suffix(2000))")
                let stats = await workspace.simulator.stats()
                #expect(try #require(await workspace.finetune("stated")).trainStepsApplied == 6)
                #expect((stats.responsesByStatus["429"] ?? 0) == 0, "paced below the limit from the first request")
            }
        }
    }
}
