import MoondreamSimulatorEngine
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A faithful local simulator of the Moondream tuning and inference API: the same paths and
/// answers as the reference, policies that learn from train steps, and seeded fault injection.
public enum Simulator {
    /// Why a simulator could not start.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Starts a simulator in the background and returns once it listens. Stop it with
    /// `RunningSimulator.stop()`.
    public static func start(_ options: SimulatorOptions) async throws -> RunningSimulator {
        let parts = makeParts(options)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = makeApplication(options, parts: parts) { port in
            portSink.yield(port)
            portSink.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: options.logger))
        // The one unstructured task: the server must outlive this call, and `stop()` ends it.
        let task = Task {
            defer { portSink.finish() }
            try await group.run()
        }
        for await port in ports {
            return RunningSimulator(port: port, host: options.host, engine: parts.engine, shutdown: parts.shutdown,
                                    group: group, task: task)
        }
        try await task.value
        throw StartError(description: "the simulator stopped before it was listening on \(options.host):\(options.port)")
    }

    /// Serves in the foreground until SIGINT or SIGTERM, calling `onReady` with the bound port
    /// first. Used by `moontune simulate`.
    public static func run(_ options: SimulatorOptions, onReady: @escaping @Sendable (Int) -> Void) async throws {
        let parts = makeParts(options)
        let app = makeApplication(options, parts: parts, onReady: onReady)
        // Services shut down in reverse order: the watcher, listed last, sets the flag first, so
        // hanging requests end before the server waits for them.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: ShutdownWatcher(flag: parts.shutdown))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: options.logger))
        try await group.run()
    }

    struct Parts {
        let engine: SimulatorEngine
        let shutdown: ShutdownFlag
    }

    static func makeParts(_ options: SimulatorOptions) -> Parts {
        Parts(engine: SimulatorEngine(seed: options.seed, apiKey: options.apiKey, faults: options.faults,
                                      style: AnswerStyle(options), clock: options.clock),
              shutdown: ShutdownFlag())
    }

    static func makeApplication(_ options: SimulatorOptions, parts: Parts,
                                onReady: @escaping @Sendable (Int) -> Void) -> some Service {
        Application(
            responder: SimulatorResponder(engine: parts.engine, shutdown: parts.shutdown,
                                          latencyCoversWork: options.latencyCoversWork),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "moondream-simulator"),
            onServerRunning: { channel in onReady(channel.localAddress?.port ?? options.port) },
            logger: options.logger)
    }
}

/// Sets the shutdown flag when the service group begins a graceful shutdown (a signal), so
/// hanging requests let the server stop.
struct ShutdownWatcher: Service {
    let flag: ShutdownFlag

    func run() async throws {
        try? await gracefulShutdown()
        flag.set()
    }
}
