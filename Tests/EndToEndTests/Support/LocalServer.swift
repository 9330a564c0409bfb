import Hummingbird
import ServiceLifecycle

/// A stand-in server the end-to-end tests serve on 127.0.0.1 (a hostile API, a webhook receiver,
/// a judge): its router is served while `body` runs, on port 0 unless a test needs a fixed one,
/// then stopped gracefully however `body` ends.
enum LocalServer {
    static func serve<T: Sendable>(_ router: Router<BasicRequestContext>, port: Int = 0, name: String,
                                   _ body: @Sendable (_ port: Int) async throws -> T) async throws -> T {
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        var app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: name),
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
            var bound = 0
            for await port in ports { bound = port }
            guard bound > 0 else {
                try await tasks.waitForAll()
                throw FixtureError("the \(name) did not start")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(bound))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
