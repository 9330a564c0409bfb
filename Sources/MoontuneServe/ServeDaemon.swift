import Foundation
import Hummingbird
import Logging
import MoontuneStore
import ServiceLifecycle

/// `moontune serve`: the queue scheduler and the HTTP server in one service group.
///
/// SIGTERM or SIGINT (or the enclosing task's graceful shutdown) shut the group down gracefully:
/// services stop in reverse order, so the
/// scheduler (listed last) stops every job first, the way SIGTERM stops `run`, while the HTTP
/// server still answers; then the server closes and `run` returns.
public struct ServeDaemon: Sendable {
    public let options: ServeOptions
    let logger: Logger
    let status: StatusDocumentProvider

    public init(options: ServeOptions, logger: Logger, status: @escaping StatusDocumentProvider) {
        self.options = options
        self.logger = logger
        self.status = status
    }

    /// Runs until SIGTERM/SIGINT, or until the task's graceful shutdown. `onListening` is told the
    /// address once the port is bound.
    ///
    /// - Parameter handlingSignals: whether the group traps SIGTERM and SIGINT itself. `moontune
    ///   serve` passes false and runs this inside its own graceful shutdown, which also ends the
    ///   process at a second signal (a ServiceGroup ignores a repeated shutdown signal).
    public func run(handlingSignals: Bool = true, onListening: @escaping @Sendable (String) -> Void) async throws {
        guard options.maxJobs >= 1 else { throw ServeError("--max-jobs must be at least 1") }
        guard options.maxInFlight >= 1 else { throw ServeError("--max-in-flight must be at least 1") }
        if !ServeOptions.isLoopback(options.host) && (options.token ?? "").isEmpty {
            throw ServeError("serve binds \(options.host), not loopback: set MOONTUNE_SERVE_TOKEN to the bearer token "
                + "every request must carry (refusing to start without one)")
        }
        let store: ProgressStore
        do {
            store = try await ProgressStore.shared(path: options.databasePath)
        } catch {
            throw ServeError(String(describing: error))
        }
        let pid = getpid()
        let host = ProcessInfo.processInfo.hostName
        try await store.registerDaemon(pid: pid, host: host, address: "\(options.host):\(options.port)", now: ProgressStore.nowMs())
        let metrics = ServeMetrics()
        let budget = SharedBudget(maxInFlight: options.maxInFlight, observe: { keyID, outcome in metrics.count(keyID: keyID, outcome) })
        let active = ActiveJobs()
        let parts = ServeHTTP.Parts(store: store, budget: budget, metrics: metrics, status: status,
                                    databasePath: options.databasePath, token: options.token.flatMap { $0.isEmpty ? nil : $0 })
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let displayHost = options.host.contains(":") ? "[\(options.host)]" : options.host
        let app = Application(router: ServeHTTP.router(parts),
                              configuration: .init(address: .hostname(options.host, port: options.port), serverName: "moontune"),
                              onServerRunning: { channel in
                                  onListening("http://\(displayHost):\(channel.localAddress?.port ?? options.port)")
                              },
                              logger: serverLogger)
        let events = JobEvents { [store, options, logger] job in
            await WebhookOutbox.enqueue(job, store: store, serveWebhook: options.webhookURL, logger: logger)
        }
        let scheduler = QueueScheduler(options: options, store: store, budget: budget, active: active, events: events,
                                       gauges: metrics.jobs, logger: logger)
        let outbox = WebhookOutbox(store: store, environment: options.environment, logger: logger)
        // Stopped in reverse order: the jobs first (their ends reach the outbox), then the outbox
        // (what is due goes out once more), then the HTTP server.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: app), .init(service: outbox), .init(service: scheduler)],
            gracefulShutdownSignals: handlingSignals ? [.sigterm, .sigint] : [],
            logger: Logger(label: "moontune.serve.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        do {
            try await group.run()
        } catch {
            try? await store.unregisterDaemon(pid: pid, host: host)
            throw error
        }
        try? await store.unregisterDaemon(pid: pid, host: host)
    }
}
