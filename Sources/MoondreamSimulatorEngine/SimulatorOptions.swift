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
    /// Answer exactly as the published reference says (`moontune simulate --reference-answers`):
    /// train_step `{}`, rollouts without the live service's extra fields, checkpoints without
    /// `expires_at_ms`, SFT groups refused, no metrics endpoint. Off by default: the simulator
    /// answers as the live service does (see docs/simulator.md).
    public var referenceAnswers = false
    /// Answer `GET /tuning/finetunes/:id` as `{"finetune": {...}}`, as the live service may.
    public var wrapFinetune = false
    /// How long a saved checkpoint lives, in seconds: live answers carry `expires_at_ms` =
    /// created + this, and an expired checkpoint is no longer listed or usable. Nil: never
    /// expires (`expires_at_ms: null`). Default 30 days.
    public var checkpointTTLSeconds: Int? = SimulatorOptions.defaultCheckpointTTLSeconds
    /// Where the simulator and its HTTP server log; quiet (warnings only) by default.
    public var logger: Logger
    /// The time the simulator reads and waits on: the real one by default; in-process tests
    /// give a `ManualSimulatorClock` and move it themselves.
    public var clock: any SimulatorClock = SystemSimulatorClock()

    public static let defaultCheckpointTTLSeconds = 30 * 86_400

    public init(host: String = "127.0.0.1", port: Int = 0, apiKey: String? = nil, seed: UInt64 = 0,
                faults: FaultOptions = FaultOptions(), logger: Logger? = nil, referenceAnswers: Bool = false,
                wrapFinetune: Bool = false, checkpointTTLSeconds: Int? = SimulatorOptions.defaultCheckpointTTLSeconds,
                clock: any SimulatorClock = SystemSimulatorClock()) {
        self.clock = clock
        self.referenceAnswers = referenceAnswers
        self.wrapFinetune = wrapFinetune
        self.checkpointTTLSeconds = checkpointTTLSeconds
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

/// Which answers the engine gives: the live service's or the reference's.
package struct AnswerStyle: Sendable, Equatable {
    package var reference = false
    package var wrapFinetune = false
    /// Nil: checkpoints never expire.
    package var checkpointTTLMs: Int64? = Int64(SimulatorOptions.defaultCheckpointTTLSeconds) * 1000

    package var live: Bool { !reference }

    package init(reference: Bool = false, wrapFinetune: Bool = false,
         checkpointTTLMs: Int64? = Int64(SimulatorOptions.defaultCheckpointTTLSeconds) * 1000) {
        self.reference = reference
        self.wrapFinetune = wrapFinetune
        self.checkpointTTLMs = checkpointTTLMs
    }

    package init(_ options: SimulatorOptions) {
        reference = options.referenceAnswers
        wrapFinetune = options.wrapFinetune
        checkpointTTLMs = options.checkpointTTLSeconds.flatMap { $0 > 0 ? Int64($0) * 1000 : nil }
    }
}
