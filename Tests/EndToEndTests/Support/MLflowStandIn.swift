import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

/// A stand-in for an MLflow tracking server on 127.0.0.1:0: just the calls moontune makes, one
/// experiment and one run, and a script for the log-batch calls that carry metrics (refused with a
/// status and error code, or unavailable a number of times first). It counts those calls.
final class MLflowStandIn: Sendable {
    struct Script: Sendable {
        /// Every metric batch answered with this status and error code.
        var refuse: (status: Int, code: String)?
        /// This many metric batches answered 503 first.
        var unavailable = 0
    }

    private let state: Mutex<(script: Script, metricBatches: Int, runCreated: Bool)>

    init(_ script: Script) {
        state = Mutex((script, 0, false))
    }

    var metricBatches: Int { state.withLock { $0.metricBatches } }
    func setScript(_ script: Script) { state.withLock { $0.script = script } }

    /// Serves while `body` runs (given the tracking URI), then stops gracefully.
    static func with<T: Sendable>(_ script: Script, _ body: @Sendable (MLflowStandIn, String) async throws -> T) async throws -> T {
        let server = MLflowStandIn(script)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var app = Application(router: server.router(),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "mlflow-stand-in"),
                              onServerRunning: { channel in
                                  portSink.yield(channel.localAddress?.port ?? 0)
                                  portSink.finish()
                              })
        app.logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [app], logger: app.logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                defer { portSink.finish() }
                try await group.run()
                return nil
            }
            var port = 0
            for await bound in ports { port = bound }
            guard port > 0 else {
                try await tasks.waitForAll()
                throw FixtureError("the MLflow stand-in did not start")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(server, "http://127.0.0.1:\(port)"))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    static let run = #"{"run":{"info":{"run_id":"r1","experiment_id":"1","artifact_uri":"mlflow-artifacts:/1/r1/artifacts","lifecycle_stage":"active"}}}"#

    private func router() -> Router<BasicRequestContext> {
        let router = Router()
        let api = "/api/2.0/mlflow"
        router.get("\(api)/experiments/get-by-name") { _, _ in HostileServer.response(200, #"{"experiment":{"experiment_id":"1"}}"#) }
        router.post("\(api)/experiments/create") { _, _ in HostileServer.response(200, #"{"experiment_id":"1"}"#) }
        router.post("\(api)/runs/search") { _, _ in
            HostileServer.response(200, self.state.withLock { $0.runCreated } ? #"{"runs":[\#(Self.run.dropFirst(7).dropLast())]}"# : "{}")
        }
        router.post("\(api)/runs/create") { _, _ in
            self.state.withLock { $0.runCreated = true }
            return HostileServer.response(200, Self.run)
        }
        router.get("\(api)/runs/get") { _, _ in HostileServer.response(200, Self.run) }
        router.post("\(api)/runs/update") { _, _ in HostileServer.response(200, "{}") }
        router.get("\(api)/metrics/get-history") { _, _ in HostileServer.response(200, #"{"metrics":[]}"#) }
        router.post("\(api)/runs/log-batch") { request, _ in
            let body = try await request.body.collect(upTo: 64 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            guard !((object?["metrics"] as? [Any]) ?? []).isEmpty else { return HostileServer.response(200, "{}") }
            let answer: (Int, String)? = self.state.withLock { state in
                state.metricBatches += 1
                if let refusal = state.script.refuse {
                    return (refusal.status, #"{"error_code":"\#(refusal.code)","message":"the stand-in refuses metrics"}"#)
                }
                if state.script.unavailable > 0 {
                    state.script.unavailable -= 1
                    return (503, #"{"error_code":"TEMPORARILY_UNAVAILABLE","message":"try again later"}"#)
                }
                return nil
            }
            return HostileServer.response(answer?.0 ?? 200, answer?.1 ?? "{}")
        }
        router.put("/api/2.0/mlflow-artifacts/artifacts/**") { _, _ in HostileServer.response(200, "{}") }
        return router
    }
}
