import AsyncHTTPClient
import Foundation
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("The simulator's rate limiter: a token bucket per API key")
struct RateLimiterTests {
    @Test("the bucket lets a burst through, then refuses with the whole seconds until a token")
    func bucket() {
        var buckets = TokenBuckets()
        let t0 = Duration.seconds(100)
        for _ in 0..<3 { #expect(buckets.take(key: "a", rate: 3, burst: 3, now: t0) == nil) }
        #expect(buckets.take(key: "a", rate: 3, burst: 3, now: t0) == 1, "1/3 s to the next token: 1 whole second")
        #expect(buckets.take(key: "b", rate: 3, burst: 3, now: t0) == nil, "another key has its own bucket")
        #expect(buckets.take(key: "a", rate: 3, burst: 3, now: t0 + .milliseconds(340)) == nil, "a token after 1/3 s")
        #expect(buckets.take(key: "a", rate: 0.2, burst: 1, now: t0 + .milliseconds(341)) == 5, "1 token at 0.2/s: 5 s")
        // Over 10 s at most rate × 10 + burst requests pass.
        var passed = 0
        for step in 0..<1000 where buckets.take(key: "c", rate: 4, burst: 4, now: t0 + .milliseconds(Int64(step * 10))) == nil {
            passed += 1
        }
        #expect(passed == 4 + 40 - 1 || passed == 4 + 40, "got \(passed)")
    }

    @Test("an empty bucket is answered 429 with a whole-second Retry-After and no other hint, per key")
    func overHTTP() async throws {
        let clock = ManualSimulatorClock()
        var options = SimulatorOptions(clock: clock)
        options.faults.rateLimitPerSecond = 2
        try await withSimulator(options) { sim in
            for _ in 0..<2 { #expect(try await sim.get("/v1/tuning/finetunes").status == 200) }
            let refused = try await sim.get("/v1/tuning/finetunes")
            #expect(refused.status == 429)
            #expect(refused.headers.first(name: "Retry-After") == "1")
            #expect(refused.headers.first(name: "retry-after-ms") == nil)
            #expect(!refused.headers.contains { $0.name.lowercased().contains("ratelimit") })
            #expect(try await sim.send(.GET, "/v1/tuning/finetunes", key: "another-key").status == 200, "another key, another bucket")
            clock.advance(by: .milliseconds(500))
            #expect(try await sim.get("/v1/tuning/finetunes").status == 200, "a token came back after 1/2 s")
            #expect(try await sim.get("/v1/tuning/finetunes").status == 429)
            let stats = await sim.simulator.stats()
            #expect(stats.responsesByStatus["429"] == 2)
            #expect(stats.faultsInjected.rateLimited == 0, "not a random fault")
        }
    }

    @Test("the limiter is set and turned off through the fault options")
    func faultOptions() throws {
        var options = FaultOptions()
        options.rateLimitPerSecond = 0
        #expect(options.problem != nil)
        options.rateLimitPerSecond = 4
        options.rateLimitBurst = 0.5
        #expect(options.problem != nil)
        options.rateLimitBurst = 8
        #expect(options.problem == nil)
        let decoded = try JSONDecoder().decode(FaultOptions.self, from: Data(#"{"rate_limit_per_s": 4, "rate_limit_burst": 8}"#.utf8))
        #expect(decoded.rateLimitPerSecond == 4 && decoded.rateLimitBurst == 8)
    }
}
