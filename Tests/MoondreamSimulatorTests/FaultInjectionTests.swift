import MoontuneJSON
import AsyncHTTPClient
import Foundation
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("Faults are injected before validation and counted")
struct FaultInjectionTests {
    func setFaults(_ sim: Harness, _ patch: String) async throws {
        let answer = try await sim.send(.POST, "/_sim/faults", body: patch, key: .some(nil))
        #expect(answer.status == 200, "\(answer.errorMessage)")
    }

    @Test("a dropped request closes the connection with no answer and is not applied")
    func drop() async throws {
        try await withSimulator { sim in
            try await setFaults(sim, #"{"drop_rate": 1}"#)
            await #expect(throws: (any Error).self) {
                _ = try await sim.post("/v1/tuning/finetunes", .members([("name", .string("dropped")), ("rank", .int(8))]))
            }
            try await setFaults(sim, #"{"drop_rate": 0}"#)
            #expect(try await sim.get("/v1/tuning/finetunes").json?["finetunes"]?.arrayValue?.isEmpty == true)
            let stats = try await sim.stats()
            #expect((stats["faults_injected"]?["dropped"]?.intValue ?? 0) >= 1)
            #expect(stats["in_flight"]?.intValue == 0)
        }
    }

    @Test("server errors answer 500/502/503 and change nothing")
    func serverErrors() async throws {
        var options = SimulatorOptions()
        options.faults.serverErrorRate = 1
        try await withSimulator(options) { sim in
            for _ in 0..<6 {
                let answer = try await sim.post("/v1/tuning/finetunes", .members([("name", .string("x")), ("rank", .int(8))]))
                #expect([500, 502, 503].contains(answer.status))
            }
            await sim.simulator.setFaults(FaultOptions())
            #expect(try await sim.get("/v1/tuning/finetunes").json?["finetunes"]?.arrayValue?.isEmpty == true)
            let stats = await sim.simulator.stats()
            #expect(stats.faultsInjected.serverError == 6)
            #expect(stats.responsesByStatus.filter { ["500", "502", "503"].contains($0.key) }.values.reduce(0, +) == 6)
        }
    }

    @Test("faults come before validation: even a bad body gets the fault")
    func faultBeforeValidation() async throws {
        var options = SimulatorOptions()
        options.faults.serverErrorRate = 1
        try await withSimulator(options) { sim in
            let answer = try await sim.send(.POST, "/v1/tuning/finetunes", body: "{not json")
            #expect([500, 502, 503].contains(answer.status))
        }
    }

    @Test("429 carries Retry-After and retry-after-ms")
    func rateLimited() async throws {
        try await withSimulator { sim in
            try await setFaults(sim, #"{"rate_limit_rate": 1, "retry_after_seconds": 2}"#)
            let answer = try await sim.get("/v1/tuning/finetunes")
            #expect(answer.status == 429 && answer.errorCode == "rate_limited")
            #expect(answer.headers.first(name: "Retry-After") == "2")
            #expect(answer.headers.first(name: "retry-after-ms") == "2000")
            #expect(try await sim.stats()["faults_injected"]?["rate_limited"]?.intValue == 1)
        }
    }

    @Test("an ambiguous train_step is applied, then answered 502 or dropped")
    func ambiguousTrainStep() async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("ambiguous")
            try await setFaults(sim, #"{"ambiguous_train_rate": 1}"#)
            var outcomes: [String] = []
            for _ in 0..<4 {
                do {
                    let answer = try await sim.oneStep(id, request: pointRequest("cup", image: "a"), truth: pointTruth(0.5, 0.5))
                    #expect(answer.status == 502)
                    outcomes.append("502")
                } catch is HarnessError {
                    Issue.record("rollouts failed")
                } catch {
                    outcomes.append("dropped")
                }
            }
            let stats = await sim.simulator.stats()
            #expect(stats.faultsInjected.ambiguousTrainStep == 4)
            #expect(stats.finetunes.first?.step == 4, "every ambiguous step was applied: \(outcomes)")
            #expect(stats.trainStepsApplied == 4)
        }
    }

    @Test("an outage answers every /v1 request with its status until it ends")
    func outage() async throws {
        let clock = ManualSimulatorClock()
        try await withSimulator(SimulatorOptions(clock: clock)) { sim in
            let started = try await sim.send(.POST, "/_sim/outage", body: #"{"seconds": 2.5, "status": 503}"#, key: .some(nil))
            #expect(started.status == 200)
            #expect(try await sim.get("/v1/tuning/finetunes").status == 503)
            #expect(try await sim.send(.POST, "/v1/tuning/finetunes", body: "{}").status == 503)
            #expect(try await sim.stats()["faults_injected"]?["outage"]?.intValue == 2)
            clock.advance(by: .milliseconds(2499))
            #expect(try await sim.get("/v1/tuning/finetunes").status == 503, "a millisecond before it ends")
            clock.advance(by: .milliseconds(1))
            #expect(try await sim.get("/v1/tuning/finetunes").status == 200)
        }
    }

    @Test("a hang waits hang_seconds, then answers normally")
    func hang() async throws {
        let clock = ManualSimulatorClock()
        var options = SimulatorOptions(clock: clock)
        options.faults.hangRate = 1
        options.faults.hangSeconds = 0.4
        try await withSimulator(options) { sim in
            async let answer = sim.get("/v1/tuning/finetunes")
            try await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(399))
            #expect(clock.sleeperCount == 1, "a millisecond before hang_seconds it still hangs")
            clock.advance(by: .milliseconds(1))
            #expect(try await answer.status == 200)
            #expect(await sim.simulator.stats().faultsInjected.hang == 1)
        }
    }

    @Test("stop does not wait out a long hang")
    func stopDuringHang() async throws {
        // On a clock nobody moves, the hang would last for ever: only the stop can end it.
        let clock = ManualSimulatorClock()
        var options = SimulatorOptions(clock: clock)
        options.faults.hangRate = 1
        options.faults.hangSeconds = 60
        let simulator = try await Simulator.start(options)
        let harness = Harness(simulator: simulator, client: .init(eventLoopGroupProvider: .singleton), key: "k")
        let start = ContinuousClock.now
        async let hung = try? harness.get("/v1/tuning/finetunes")
        try await clock.waitForSleepers(1)
        await simulator.stop()
        _ = await hung
        try await harness.client.shutdown()
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("requests in flight are counted and their maximum kept")
    func maxInFlight() async throws {
        let clock = ManualSimulatorClock()
        var options = SimulatorOptions(clock: clock)
        options.faults.otherLatencyMs = 1500
        try await withSimulator(options) { sim in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<5 { group.addTask { try await sim.get("/v1/tuning/finetunes").status } }
                // All five are in their latency at once; then the time passes for all of them.
                try await clock.waitForSleepers(5)
                clock.advance(by: .milliseconds(1500))
                for try await status in group { #expect(status == 200) }
            }
            let stats = await sim.simulator.stats()
            #expect(stats.maxInFlight == 5)
            #expect(stats.inFlight == 0)
            #expect(stats.requestsByEndpoint["GET /v1/tuning/finetunes"] == 5)
            #expect(stats.requestsTotal == 5)
        }
    }

    @Test("latency is added to rollouts only when rollout latency is set")
    func rolloutLatency() async throws {
        let clock = ManualSimulatorClock()
        var options = SimulatorOptions(clock: clock)
        options.faults.rolloutLatencyMs = 300
        try await withSimulator(options) { sim in
            let id = try await sim.createFinetune("slow")
            #expect(clock.sleeperCount == 0 && clock.now == .zero, "create answered with no latency")
            async let rollouts = sim.rollouts(id, request: pointRequest("cup", image: "a"))
            try await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(299))
            #expect(clock.sleeperCount == 1, "a millisecond before the latency it still waits")
            clock.advance(by: .milliseconds(1))
            #expect(try await rollouts.status == 200)
        }
    }

    @Test("reset-stats zeroes the counters and keeps the finetunes")
    func resetStats() async throws {
        try await withSimulator { sim in
            _ = try await sim.createFinetune("kept")
            #expect(try await sim.send(.POST, "/_sim/reset-stats", body: "{}", key: .some(nil)).status == 200)
            let stats = try await sim.stats()
            #expect(stats["requests_total"]?.intValue == 0)
            #expect(stats["finetunes"]?.arrayValue?.count == 1)
        }
    }
}

@Suite("Starting and stopping")
struct LifecycleTests {
    @Test("start on a port already in use throws instead of hanging")
    func portInUse() async throws {
        let first = try await Simulator.start(SimulatorOptions())
        await #expect(throws: (any Error).self) {
            let second = try await Simulator.start(SimulatorOptions(port: first.port))
            await second.stop()
        }
        await first.stop()
    }

    @Test("after stop the port no longer answers")
    func stopClosesPort() async throws {
        let simulator = try await Simulator.start(SimulatorOptions())
        #expect(simulator.baseURL == "http://127.0.0.1:\(simulator.port)/v1")
        await simulator.stop()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(simulator.port)/_sim/stats")
        request.method = .GET
        await #expect(throws: (any Error).self) { _ = try await client.execute(request, timeout: .seconds(5)) }
        try await client.shutdown()
    }
}
