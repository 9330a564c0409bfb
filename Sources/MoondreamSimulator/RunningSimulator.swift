import MoondreamSimulatorEngine
import ServiceLifecycle

/// A simulator serving in the background, from `Simulator.start`.
public final class RunningSimulator: Sendable {
    /// The bound port (the real one when started on port 0).
    public let port: Int
    public let host: String
    let engine: SimulatorEngine
    private let shutdown: ShutdownFlag
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(port: Int, host: String, engine: SimulatorEngine, shutdown: ShutdownFlag, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.host = host
        self.engine = engine
        self.shutdown = shutdown
        self.group = group
        self.task = task
    }

    /// The API root, e.g. "http://127.0.0.1:PORT/v1".
    public var baseURL: String { "http://\(host):\(port)/v1" }

    /// The same document as `GET /_sim/stats`.
    public func stats() async -> SimulatorStats { await engine.stats() }

    /// The metrics clients pushed to a finetune (`POST /tuning/finetunes/:id/metrics`), by step
    /// then name; also served as `GET /_sim/finetunes/:id/metrics`.
    public func loggedMetrics(finetuneID: String) async -> [Int: [String: Double]] {
        await engine.metricsByStep(finetuneID)
    }

    /// Replaces every fault option.
    public func setFaults(_ faults: FaultOptions) async { await engine.setFaults(faults) }

    /// Stops gracefully: hangs and latencies end early, open requests are answered, and the
    /// port is closed when this returns.
    public func stop() async {
        shutdown.set()
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}
