import MoontuneJSON
import AsyncHTTPClient
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("Slow train steps land after the client gave up")
struct SlowTrainTests {
    @Test("a slow train_step the client timed out on is applied afterwards")
    func landsAfterTimeout() async throws {
        let clock = ManualSimulatorClock()
        try await withSimulator(SimulatorOptions(clock: clock)) { sim in
            let patch = #"{"slow_train_rate": 1, "slow_train_ms": 1500}"#
            let patched = try await sim.send(.POST, "/_sim/faults", body: patch, key: .some(nil))
            #expect(patched.status == 200 && patched.json?["slow_train_ms"]?.intValue == 1500, "\(patched.errorMessage)")
            let id = try await sim.createFinetune("slow")
            let issued = try await sim.rollouts(id, request: pointRequest("cup", image: "slow"), count: 2, truth: pointTruth(0.5, 0.5))
            let group = JSONValue.members([("request", issued.json?["request"] ?? .null), ("rollouts", issued.json?["rollouts"] ?? .null),
                                          ("rewards", .list([.int(1), .int(0)]))])
            let body = JSONValue.members([("finetune_id", .string(id)), ("groups", .list([group]))]).serialized()
            // The simulator holds the step on its clock, which does not move: the client gives up.
            await #expect(throws: (any Error).self) {
                _ = try await sim.send(.POST, "/v1/tuning/train_step", body: body, timeout: .milliseconds(300))
            }
            try await clock.waitForSleepers(1)
            clock.advance(by: .milliseconds(1499))
            #expect(await sim.simulator.stats().trainStepsApplied == 0, "a millisecond before slow_train_ms it has not landed")
            clock.advance(by: .milliseconds(1))
            var applied = 0
            let deadline = ContinuousClock.now + .seconds(10)
            while applied == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
                applied = await sim.simulator.stats().trainStepsApplied
            }
            let stats = await sim.simulator.stats()
            #expect(applied == 1 && stats.finetunes.first?.step == 1 && stats.faultsInjected.slowTrainStep == 1)
        }
    }

    @Test("slow train options come from the CLI's snake_case fault keys and are validated")
    func options() throws {
        let decoded = try FaultOptions().merging(try JSONValue.parseNormalized(Array(#"{"slow_train_rate": 0.5, "slow_train_ms": 10, "unapplied_train_rate": 0.25}"#.utf8)))
        #expect(decoded.slowTrainRate == 0.5 && decoded.slowTrainMs == 10 && decoded.unappliedTrainRate == 0.25)
        #expect(throws: APIFailure.self) { _ = try FaultOptions().merging(try JSONValue.parseNormalized(Array(#"{"slow_train_rate": 2}"#.utf8))) }
        #expect(throws: APIFailure.self) { _ = try FaultOptions().merging(try JSONValue.parseNormalized(Array(#"{"slow_train_ms": -1}"#.utf8))) }
    }
}
