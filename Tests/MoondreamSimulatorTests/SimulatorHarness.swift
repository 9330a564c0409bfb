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
        let json: SimJSON?
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
        let json = try? SimJSON.parse(Array(buffer.readableBytesView))
        return Answer(status: Int(response.status.code), headers: response.headers, json: json)
    }

    func post(_ path: String, _ body: SimJSON) async throws -> Answer {
        try await send(.POST, path, body: body.text)
    }

    func get(_ path: String) async throws -> Answer { try await send(.GET, path) }

    // MARK: Common steps

    func createFinetune(_ name: String, rank: Int = 16) async throws -> String {
        let answer = try await post("/v1/tuning/finetunes", .object([("name", .string(name)), ("rank", .int(rank))]))
        guard answer.status == 200, let id = answer.json?["finetune_id"]?.stringValue else {
            throw HarnessError("create finetune answered \(answer.status): \(answer.errorMessage)")
        }
        return id
    }

    func rollouts(_ finetuneID: String, request: SimJSON, count: Int = 4, truth: SimJSON? = nil) async throws -> Answer {
        var members: [(String, SimJSON)] = [("finetune_id", .string(finetuneID)), ("num_rollouts", .int(count)), ("request", request)]
        if let truth { members.append(("ground_truth", truth)) }
        return try await post("/v1/tuning/rollouts", .object(members))
    }

    func trainStep(_ finetuneID: String, groups: [(request: SimJSON, rollouts: [SimJSON], rewards: [Double])], lr: Double? = nil) async throws -> Answer {
        var members: [(String, SimJSON)] = [("finetune_id", .string(finetuneID)), ("groups", .array(groups.map { group in
            .object([("request", group.request), ("rollouts", .array(group.rollouts)), ("rewards", .array(group.rewards.map(SimJSON.double)))])
        }))]
        if let lr { members.append(("lr", .double(lr))) }
        return try await post("/v1/tuning/train_step", .object(members))
    }

    /// Rollouts then one train_step on them with the server's rewards; returns the step's answer.
    func oneStep(_ finetuneID: String, request: SimJSON, truth: SimJSON) async throws -> Answer {
        let answer = try await rollouts(finetuneID, request: request, truth: truth)
        guard answer.status == 200, let json = answer.json, let echo = json["request"],
              let rollouts = json["rollouts"]?.arrayValue, let rewards = json["rewards"]?.arrayValue?.compactMap(\.doubleValue) else {
            throw HarnessError("rollouts answered \(answer.status): \(answer.errorMessage)")
        }
        return try await trainStep(finetuneID, groups: [(echo, rollouts, rewards)])
    }

    func stats() async throws -> SimJSON {
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

func pointRequest(_ object: String, image: String, temperature: Double? = nil) -> SimJSON {
    var members: [(String, SimJSON)] = [("skill", .string("point")), ("object", .string(object)), ("image_url", .string(imageURL(image)))]
    if let temperature { members.append(("settings", .object([("temperature", .double(temperature))]))) }
    return .object(members)
}

func detectRequest(_ object: String, image: String, temperature: Double? = nil) -> SimJSON {
    var members: [(String, SimJSON)] = [("skill", .string("detect")), ("object", .string(object)), ("image_url", .string(imageURL(image)))]
    if let temperature { members.append(("settings", .object([("temperature", .double(temperature))]))) }
    return .object(members)
}

func queryRequest(_ question: String, image: String) -> SimJSON {
    .object([("skill", .string("query")), ("question", .string(question)), ("image_url", .string(imageURL(image)))])
}

func pointTruth(_ x: Double, _ y: Double) -> SimJSON {
    .object([("points", .array([.object([("x", .double(x)), ("y", .double(y))])]))])
}

func boxesTruth(_ boxes: [(Double, Double, Double, Double)]) -> SimJSON {
    .object([("boxes", .array(boxes.map { box in
        .object([("x_min", .double(box.0)), ("y_min", .double(box.1)), ("x_max", .double(box.2)), ("y_max", .double(box.3))])
    }))])
}
