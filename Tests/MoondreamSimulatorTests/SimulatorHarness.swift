import MoontuneJSON
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

/// A simulator on 127.0.0.1:0 and a raw-JSON HTTP client for one test; both are shut down by
/// `withSimulator` whatever the test does.
struct Harness: Sendable {
    let simulator: RunningSimulator
    let client: HTTPClient
    let key: String

    /// One answer: status, headers and the body parsed as JSON (nil if not JSON).
    struct Answer: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let json: JSONValue?
        var errorMessage: String { json?["error"]?["message"]?.stringValue ?? "" }
        var errorCode: String { json?["error"]?["code"]?.stringValue ?? "" }
    }

    var root: String { "http://127.0.0.1:\(simulator.port)" }

    func send(_ method: HTTPMethod, _ path: String, body: String? = nil, key: String?? = .none,
              timeout: TimeAmount = .seconds(30)) async throws -> Answer {
        var request = HTTPClientRequest(url: root + path)
        request.method = method
        let authKey: String? = key ?? self.key
        if let authKey { request.headers.add(name: "X-Moondream-Auth", value: authKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
        let json = try? JSONValue.parseNormalized(Array(buffer.readableBytesView))
        return Answer(status: Int(response.status.code), headers: response.headers, json: json)
    }

    func post(_ path: String, _ body: JSONValue) async throws -> Answer {
        try await send(.POST, path, body: body.serialized())
    }

    func get(_ path: String) async throws -> Answer { try await send(.GET, path) }

    // MARK: Common steps

    func createFinetune(_ name: String, rank: Int = 16) async throws -> String {
        let answer = try await post("/v1/tuning/finetunes", .members([("name", .string(name)), ("rank", .int(rank))]))
        guard answer.status == 200, let id = answer.json?["finetune_id"]?.stringValue else {
            throw HarnessError("create finetune answered \(answer.status): \(answer.errorMessage)")
        }
        return id
    }

    func rollouts(_ finetuneID: String, request: JSONValue, count: Int = 4, truth: JSONValue? = nil) async throws -> Answer {
        var members: [(String, JSONValue)] = [("finetune_id", .string(finetuneID)), ("num_rollouts", .int(count)), ("request", request)]
        if let truth { members.append(("ground_truth", truth)) }
        return try await post("/v1/tuning/rollouts", .members(members))
    }

    func trainStep(_ finetuneID: String, groups: [(request: JSONValue, rollouts: [JSONValue], rewards: [Double])], lr: Double? = nil) async throws -> Answer {
        var members: [(String, JSONValue)] = [("finetune_id", .string(finetuneID)), ("groups", .list(groups.map { group in
            .members([("request", group.request), ("rollouts", .list(group.rollouts)), ("rewards", .list(group.rewards.map(JSONValue.canonicalDouble)))])
        }))]
        if let lr { members.append(("lr", .canonicalDouble(lr))) }
        return try await post("/v1/tuning/train_step", .members(members))
    }

    /// Rollouts then one train_step on them with the server's rewards; returns the step's answer.
    func oneStep(_ finetuneID: String, request: JSONValue, truth: JSONValue) async throws -> Answer {
        let answer = try await rollouts(finetuneID, request: request, truth: truth)
        guard answer.status == 200, let json = answer.json, let echo = json["request"],
              let rollouts = json["rollouts"]?.arrayValue, let rewards = json["rewards"]?.arrayValue?.compactMap(\.doubleValue) else {
            throw HarnessError("rollouts answered \(answer.status): \(answer.errorMessage)")
        }
        return try await trainStep(finetuneID, groups: [(echo, rollouts, rewards)])
    }

    func stats() async throws -> JSONValue {
        let answer = try await send(.GET, "/_sim/stats", key: .some(nil))
        guard let json = answer.json else { throw HarnessError("stats answered \(answer.status)") }
        return json
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts a simulator and a client, runs `body`, then stops both.
func withSimulator<T: Sendable>(_ options: SimulatorOptions = SimulatorOptions(), key: String = "test-key",
                                _ body: (Harness) async throws -> T) async throws -> T {
    let simulator = try await Simulator.start(options)
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let harness = Harness(simulator: simulator, client: client, key: key)
    do {
        let result = try await body(harness)
        try await client.shutdown()
        await simulator.stop()
        return result
    } catch {
        try? await client.shutdown()
        await simulator.stop()
        throw error
    }
}

/// Tiny but well-formed base64 image data URLs, distinct per name.
func imageURL(_ name: String) -> String {
    "data:image/png;base64," + Data("image-\(name)".utf8).base64EncodedString()
}

func pointRequest(_ object: String, image: String, temperature: Double? = nil) -> JSONValue {
    var members: [(String, JSONValue)] = [("skill", .string("point")), ("object", .string(object)), ("image_url", .string(imageURL(image)))]
    if let temperature { members.append(("settings", .members([("temperature", .canonicalDouble(temperature))]))) }
    return .members(members)
}

func detectRequest(_ object: String, image: String, temperature: Double? = nil) -> JSONValue {
    var members: [(String, JSONValue)] = [("skill", .string("detect")), ("object", .string(object)), ("image_url", .string(imageURL(image)))]
    if let temperature { members.append(("settings", .members([("temperature", .canonicalDouble(temperature))]))) }
    return .members(members)
}

func queryRequest(_ question: String, image: String) -> JSONValue {
    .members([("skill", .string("query")), ("question", .string(question)), ("image_url", .string(imageURL(image)))])
}

func pointTruth(_ x: Double, _ y: Double) -> JSONValue {
    .members([("points", .list([.members([("x", .canonicalDouble(x)), ("y", .canonicalDouble(y))])]))])
}

func boxesTruth(_ boxes: [(Double, Double, Double, Double)]) -> JSONValue {
    .members([("boxes", .list(boxes.map { box in
        .members([("x_min", .canonicalDouble(box.0)), ("y_min", .canonicalDouble(box.1)), ("x_max", .canonicalDouble(box.2)), ("y_max", .canonicalDouble(box.3))])
    }))])
}
