import ArgumentParser
import Foundation
import Logging
import MoondreamSimulator

/// `moontune simulate`: serves the local simulator of the Moondream tuning API in the foreground
/// until SIGINT or SIGTERM.
public struct SimulateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Serve a local simulator of the Moondream tuning API.",
        discussion: """
            Serves /v1/tuning/... and the inference endpoints on the given host and port, prints \
            'moontune simulator listening on http://HOST:PORT/v1' once ready, and exits 0 on \
            SIGINT or SIGTERM. See docs/simulator.md.
            """)

    @Option(help: "Port to listen on; 0 picks a free one (printed).")
    var port: Int = 0

    @Option(help: "Address to bind.")
    var host: String = "127.0.0.1"

    @Option(name: .customLong("api-key"), help: "Accept only this X-Moondream-Auth key (default: any non-empty key).")
    var apiKey: String?

    @Option(help: "Seed of base policies, sampling, ids and faults.")
    var seed: UInt64 = 0

    @Option(name: .customLong("rollout-latency-ms"), help: "Latency added to each /tuning/rollouts, in ms.")
    var rolloutLatencyMs: Int = 0

    @Option(name: .customLong("train-latency-ms"), help: "Latency added to each /tuning/train_step, in ms.")
    var trainLatencyMs: Int = 0

    @Option(name: .customLong("other-latency-ms"), help: "Latency added to every other /v1 request, in ms.")
    var otherLatencyMs: Int = 0

    @Flag(name: .customLong("latency-covers-work"),
          help: "Count the simulator's own work inside the latencies: answer at arrival + latency, not after latency + work.")
    var latencyCoversWork = false

    @Option(name: .customLong("server-error-rate"), help: "Fraction of requests answered 500/502/503, not applied.")
    var serverErrorRate: Double = 0

    @Option(name: .customLong("rate-limit-rate"), help: "Fraction of requests answered 429, not applied.")
    var rateLimitRate: Double = 0

    @Option(name: .customLong("retry-after"), help: "Retry-After of 429 answers, in seconds.")
    var retryAfter: Double = 1

    @Option(name: .customLong("rate-limit"),
            help: "A token bucket per API key: R requests a second; an empty bucket answers 429 with a whole-second Retry-After.")
    var rateLimit: Double?

    @Option(name: .customLong("rate-burst"), help: "The --rate-limit bucket's size (default: R).")
    var rateBurst: Double?

    @Option(name: .customLong("drop-rate"), help: "Fraction of requests whose connection is closed unanswered, not applied.")
    var dropRate: Double = 0

    @Option(name: .customLong("ambiguous-train-rate"), help: "Fraction of train_steps applied, then answered 502 or dropped.")
    var ambiguousTrainRate: Double = 0

    @Option(name: .customLong("hang-rate"), help: "Fraction of requests that wait --hang-seconds before answering.")
    var hangRate: Double = 0

    @Option(name: .customLong("hang-seconds"), help: "How long a hanging request waits.")
    var hangSeconds: Double = 30

    @Option(name: .customLong("unapplied-train-rate"),
            help: "Fraction of valid train_steps answered {\"applied\": false} and not applied (live answers only).")
    var unappliedTrainRate: Double = 0

    @Option(name: .customLong("slow-train-rate"),
            help: "Fraction of train_steps that take --slow-train-ms and are then applied, even if the client has hung up.")
    var slowTrainRate: Double = 0

    @Option(name: .customLong("slow-train-ms"), help: "How long a slow train_step takes, in ms.")
    var slowTrainMs: Int = 0

    @Option(name: .customLong("slow-train-steps"),
            help: "Comma-separated finetune steps whose first train_step takes --slow-train-ms and is then applied (a late landing at a chosen step).")
    var slowTrainSteps: String?

    @Flag(name: .customLong("reference-answers"),
          help: "Answer exactly as the published reference says (train_step {}, no live-service fields, SFT groups refused, no metrics endpoint) instead of as the live service does.")
    var referenceAnswers = false

    @Flag(name: .customLong("wrap-finetune"), help: "Answer GET /tuning/finetunes/:id as {\"finetune\": {...}}, as the live service may.")
    var wrapFinetune = false

    @Option(name: .customLong("checkpoint-ttl"),
            help: "Seconds a saved checkpoint lives (its expires_at_ms = created + this); 0 never expires (expires_at_ms null).")
    var checkpointTTL: Int = SimulatorOptions.defaultCheckpointTTLSeconds

    public init() {}

    var faults: FaultOptions {
        var faults = FaultOptions()
        faults.rolloutLatencyMs = rolloutLatencyMs
        faults.trainLatencyMs = trainLatencyMs
        faults.otherLatencyMs = otherLatencyMs
        faults.serverErrorRate = serverErrorRate
        faults.rateLimitRate = rateLimitRate
        faults.retryAfterSeconds = retryAfter
        faults.dropRate = dropRate
        faults.ambiguousTrainRate = ambiguousTrainRate
        faults.hangRate = hangRate
        faults.hangSeconds = hangSeconds
        faults.unappliedTrainRate = unappliedTrainRate
        faults.slowTrainRate = slowTrainRate
        faults.slowTrainMs = slowTrainMs
        faults.slowTrainSteps = parsedSlowTrainSteps ?? []
        faults.rateLimitPerSecond = rateLimit
        faults.rateLimitBurst = rateBurst
        return faults
    }

    /// `--slow-train-steps` as steps; nil when it is not a list of steps of 1 or more.
    var parsedSlowTrainSteps: [Int]? {
        guard let slowTrainSteps else { return [] }
        let steps = slowTrainSteps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard steps.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        return steps.compactMap { $0 }
    }

    public func validate() throws {
        guard parsedSlowTrainSteps != nil else {
            throw ValidationError("--slow-train-steps takes steps of 1 or more separated by commas, got '\(slowTrainSteps ?? "")'")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
        guard checkpointTTL >= 0 else { throw ValidationError("--checkpoint-ttl must not be negative, got \(checkpointTTL)") }
        if rateBurst != nil && rateLimit == nil { throw ValidationError("--rate-burst needs --rate-limit") }
        if let problem = faults.problem { throw ValidationError(problem.replacingOccurrences(of: "_", with: "-")) }
    }

    public func run() async throws {
        var options = SimulatorOptions(host: host, port: port, apiKey: apiKey, seed: seed, faults: faults)
        options.latencyCoversWork = latencyCoversWork
        options.referenceAnswers = referenceAnswers
        options.wrapFinetune = wrapFinetune
        options.checkpointTTLSeconds = checkpointTTL > 0 ? checkpointTTL : nil
        let host = self.host
        try await Simulator.run(options) { boundPort in
            print("moontune simulator listening on http://\(host):\(boundPort)/v1")
            fflush(nil)
        }
    }
}
