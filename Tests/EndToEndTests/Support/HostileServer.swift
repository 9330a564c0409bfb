import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// The tuning endpoints moontune calls, as the hostile server routes them.
enum HostileRoute: String, Sendable, CaseIterable {
    case createFinetune, getFinetune, listCheckpoints, saveCheckpoint, rollouts, trainStep
}

/// What the hostile server answers instead of the right thing.
struct HostileAnswer: Sendable {
    var status: Int = 200
    var body: [UInt8]
    /// For train_step: whether the step counts as applied although the answer is bad.
    var applies = false
    /// A `Retry-After` header to send, in seconds.
    var retryAfter: String?

    static func text(_ text: String, status: Int = 200, applies: Bool = false) -> HostileAnswer {
        HostileAnswer(status: status, body: Array(text.utf8), applies: applies)
    }
}

/// A tiny server on 127.0.0.1:0 that answers the tuning endpoints correctly for one point job,
/// except where its script says otherwise: then it sends exactly the bytes the script gives.
/// It keeps just enough state (steps applied, checkpoints saved) for a job to complete.
final class HostileServer: Sendable {
    static let finetuneID = "01HOSTILE0000000000000000"

    typealias Script = @Sendable (HostileRoute) -> HostileAnswer?

    let script: Script
    private let state = Mutex<(step: Int, checkpoints: [Int], requests: [HostileRoute: Int])>((0, [], [:]))

    init(script: @escaping Script) {
        self.script = script
    }

    var requests: [HostileRoute: Int] { state.withLock { $0.requests } }
    var step: Int { state.withLock { $0.step } }

    /// Serves while `body` runs, then stops gracefully.
    static func with<T: Sendable>(_ script: @escaping Script, _ body: @Sendable (HostileServer, String) async throws -> T) async throws -> T {
        let server = HostileServer(script: script)
        return try await LocalServer.serve(server.router(), name: "hostile server") { port in
            try await body(server, "http://127.0.0.1:\(port)/v1")
        }
    }

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/tuning/finetunes") { _, _ in self.answer(.createFinetune) }
        router.get("/v1/tuning/finetunes/:id") { _, _ in self.answer(.getFinetune) }
        router.get("/v1/tuning/finetunes/:id/checkpoints") { _, _ in self.answer(.listCheckpoints) }
        router.post("/v1/tuning/finetunes/:id/checkpoints/save") { _, _ in self.answer(.saveCheckpoint) }
        router.post("/v1/tuning/rollouts") { _, _ in self.answer(.rollouts) }
        router.post("/v1/tuning/train_step") { _, _ in self.answer(.trainStep) }
        return router
    }

    private func answer(_ route: HostileRoute) -> Response {
        state.withLock { $0.requests[route, default: 0] += 1 }
        if let hostile = script(route) {
            if route == .trainStep, hostile.applies { state.withLock { $0.step += 1 } }
            return Self.response(hostile.status, hostile.body, retryAfter: hostile.retryAfter)
        }
        switch route {
        case .createFinetune:
            return Self.response(200, #"{"finetune_id":"\#(Self.finetuneID)"}"#)
        case .getFinetune:
            return Self.response(200, #"{"finetune_id":"\#(Self.finetuneID)","name":"hostile","rank":8}"#)
        case .listCheckpoints:
            let items = state.withLock { $0.checkpoints }.map(Self.checkpoint).joined(separator: ",")
            return Self.response(200, #"{"checkpoints":[\#(items)],"next_cursor":null,"has_more":false}"#)
        case .saveCheckpoint:
            let step = state.withLock { state -> Int in
                if state.step > 0, !state.checkpoints.contains(state.step) { state.checkpoints.append(state.step) }
                return state.step
            }
            guard step > 0 else { return Self.response(404, #"{"error":{"message":"the finetune has no step to save"}}"#) }
            return Self.response(200, #"{"checkpoint":\#(Self.checkpoint(step))}"#)
        case .rollouts:
            return Self.response(200, Self.rollouts)
        case .trainStep:
            state.withLock { $0.step += 1 }
            return Self.response(200, "{}")
        }
    }

    static func checkpoint(_ step: Int) -> String {
        #"{"checkpoint_id":"ck-\#(step)","finetune_id":"\#(finetuneID)","step":\#(step)}"#
    }

    /// A valid answer to a point rollouts request of two rollouts, with server rewards.
    static let rollouts = #"""
        {"request":{"skill":"point","object":"the shape","image_url":"data:image/png;base64,AAAA"},
         "rollouts":[{"skill":"point","finish_reason":"stop","output":{"points":[{"x":0.5,"y":0.5}]}},
                     {"skill":"point","finish_reason":"stop","output":{"points":[{"x":0.1,"y":0.9}]}}],
         "rewards":[1.0,0.0]}
        """#

    static func response(_ status: Int, _ text: String) -> Response { response(status, Array(text.utf8)) }

    static func response(_ status: Int, _ bytes: [UInt8], retryAfter: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = retryAfter }
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
