import Logging

/// How to start a simulator.
public struct SimulatorOptions: Sendable {
    /// The address to bind; tests and the demo use the loopback address.
    public var host = "127.0.0.1"
    /// 0 picks a free port (the bound one is `RunningSimulator.port`).
    public var port = 0
    /// The one key accepted in `X-Moondream-Auth`; nil accepts any non-empty key.
    public var apiKey: String?
    /// Seeds base policies, sampling, ids and fault draws: a sequential client replays exactly.
    public var seed: UInt64 = 0
    public var faults = FaultOptions()
    /// When true, a request's set latency includes the simulator's own work: the answer leaves
    /// at arrival + latency (or when the work is done, if later) rather than after latency +
    /// work. Off by default. The benchmark turns it on, so that its ideal step time is the
    /// latencies it set and the simulator's CPU time does not count against the client.
    public var latencyCoversWork = false
    /// Where the simulator and its HTTP server log; quiet (warnings only) by default.
    public var logger: Logger

    public init(host: String = "127.0.0.1", port: Int = 0, apiKey: String? = nil, seed: UInt64 = 0,
                faults: FaultOptions = FaultOptions(), logger: Logger? = nil) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.seed = seed
        self.faults = faults
        if let logger {
            self.logger = logger
        } else {
            var quiet = Logger(label: "moondream-simulator")
            quiet.logLevel = .warning
            self.logger = quiet
        }
    }
}
