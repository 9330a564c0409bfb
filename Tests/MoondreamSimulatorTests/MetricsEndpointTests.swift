import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("POST /tuning/finetunes/:id/metrics validates as the SDK documents and keeps what was pushed")
struct MetricsEndpointTests {
    static let hundredAndOne = "{" + (0...100).map { #""m\#($0)": 1"# }.joined(separator: ", ") + "}"

    @Test("a good push is answered ok with the count and kept by step", arguments: [false])
    func goodPush(_: Bool) async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("metrics")
            let body = #"{"step": 3, "metrics": {"eval/reward": 0.75, "train_loss-2": 1, "a": -2.5e-3}}"#
            let answer = try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: body)
            #expect(answer.status == 200, "\(answer.errorMessage)")
            #expect(answer.json == .members([("ok", .bool(true)), ("step", .int(3)), ("logged_count", .int(3))]))
            _ = try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: #"{"step": 3, "metrics": {"a": 1}}"#)
            _ = try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: #"{"step": 0, "metrics": {"b": 2}}"#)
            let logged = await sim.simulator.loggedMetrics(finetuneID: id)
            #expect(logged == [3: ["eval/reward": 0.75, "train_loss-2": 1, "a": 1], 0: ["b": 2]])
            let control = try await sim.send(.GET, "/_sim/finetunes/\(id)/metrics", key: .some(nil))
            #expect(control.json?["pushes"]?.intValue == 3)
            #expect(control.json?["steps"]?.arrayValue?.map { $0["step"]?.intValue } == [0, 3])
            #expect(control.json?["steps"]?.arrayValue?.last?["metrics"]?["eval/reward"]?.doubleValue == 0.75)
            let stats = await sim.simulator.stats()
            #expect(stats.requestsByEndpoint["POST /v1/tuning/finetunes/:id/metrics"] == 3)
        }
    }

    @Test("each invalid push is a 400 that says why", arguments: [
        (#"{"metrics": {"a": 1}}"#, "step is required"),
        (#"{"step": -1, "metrics": {"a": 1}}"#, "step must be a non-negative integer"),
        (#"{"step": 1.5, "metrics": {"a": 1}}"#, "step must be a non-negative integer"),
        (#"{"step": "1", "metrics": {"a": 1}}"#, "step must be a non-negative integer"),
        (#"{"step": 1}"#, "metrics is required"),
        (#"{"step": 1, "metrics": [1]}"#, "metrics must be an object"),
        (#"{"step": 1, "metrics": {}}"#, "1 to 100"),
        (#"{"step": 1, "metrics": \#(hundredAndOne)}"#, "1 to 100"),
        (#"{"step": 1, "metrics": {"bad name": 1}}"#, #"metrics["bad name"]"#),
        (#"{"step": 1, "metrics": {"": 1}}"#, "must match"),
        (#"{"step": 1, "metrics": {"sys/loss": 1}}"#, "sys/"),
        (#"{"step": 1, "metrics": {"usr/x": 1}}"#, "usr/"),
        (#"{"step": 1, "metrics": {"a": "1"}}"#, #"metrics["a"] must be a finite number"#),
        (#"{"step": 1, "metrics": {"a": true}}"#, "finite number"),
        (#"{"step": 1, "metrics": {"a": null}}"#, "finite number"),
        (#"{"step": 1, "metrics": {"a": 1}, "extra": 2}"#, "extra is not a known field"),
    ])
    func refused(body: String, mentions: String) async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("metrics-bad")
            let answer = try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: body)
            #expect(answer.status == 400 && answer.errorMessage.contains(mentions), "\(answer.status) \(answer.errorMessage)")
            #expect(await sim.simulator.loggedMetrics(finetuneID: id).isEmpty)
        }
    }

    @Test("an unknown or deleted finetune is 404; a missing key 401")
    func unknownFinetune() async throws {
        try await withSimulator { sim in
            let body = #"{"step": 1, "metrics": {"a": 1}}"#
            #expect(try await sim.send(.POST, "/v1/tuning/finetunes/01ARZ3NDEKTSV4RRFFQ69G5FAV/metrics", body: body).status == 404)
            let id = try await sim.createFinetune("metrics-gone")
            #expect(try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: body, key: .some(nil)).status == 401)
            #expect(try await sim.send(.DELETE, "/v1/tuning/finetunes/\(id)").status == 200)
            #expect(try await sim.send(.POST, "/v1/tuning/finetunes/\(id)/metrics", body: body).status == 404)
        }
    }
}
