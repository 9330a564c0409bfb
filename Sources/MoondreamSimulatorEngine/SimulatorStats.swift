/// The counters of `GET /_sim/stats`: what the simulator saw, including what a real server would
/// silently punish (altered or forged rollouts, double applications).
public struct SimulatorStats: Sendable, Codable, Equatable {
    /// Injected faults by kind.
    public struct FaultCounts: Sendable, Codable, Equatable {
        public var serverError = 0
        public var rateLimited = 0
        public var dropped = 0
        public var ambiguousTrainStep = 0
        public var hang = 0
        public var outage = 0
        /// train_steps answered `applied: false` and not applied.
        public var unappliedTrainStep = 0
        /// train_steps that took `slow_train_ms` before being applied.
        public var slowTrainStep = 0

        public init() {}

        package enum CodingKeys: String, CodingKey {
            case serverError = "server_error", rateLimited = "rate_limited", dropped
            case ambiguousTrainStep = "ambiguous_train_step", hang, outage
            case unappliedTrainStep = "unapplied_train_step", slowTrainStep = "slow_train_step"
        }
    }

    /// One finetune as the simulator holds it (deleted ones included).
    public struct FinetuneSummary: Sendable, Codable, Equatable {
        public var finetuneID: String
        public var name: String
        public var rank: Int
        /// Train steps applied to the current policy (rolled back by a restore).
        public var step: Int
        public var deleted: Bool
        public var trainStepsApplied: Int
        public var doubleApplications: Int
        /// Steps of the live saved checkpoints, ascending.
        public var checkpoints: [Int]
        /// Steps of the deleted checkpoints, ascending.
        public var deletedCheckpoints: [Int]

        package enum CodingKeys: String, CodingKey {
            case finetuneID = "finetune_id", name, rank, step, deleted
            case trainStepsApplied = "train_steps_applied", doubleApplications = "double_applications"
            case checkpoints, deletedCheckpoints = "deleted_checkpoints"
        }
    }

    /// `/v1` requests received.
    public var requestsTotal = 0
    /// `/v1` requests by route, e.g. "POST /v1/tuning/rollouts" or "GET /v1/tuning/finetunes/:id".
    public var requestsByEndpoint: [String: Int] = [:]
    /// `/v1` answers by HTTP status (dropped connections have none).
    public var responsesByStatus: [String: Int] = [:]
    /// `/v1` requests between arrival and answer, now and at most.
    public var inFlight = 0
    public var maxInFlight = 0
    public var faultsInjected = FaultCounts()
    /// train_steps refused with 400 (any validation or integrity failure).
    public var refused = 0
    /// Successful train_steps, all finetunes.
    public var trainStepsApplied = 0
    /// train_steps that reused a rollout already trained on (applied all the same).
    public var doubleApplications = 0
    /// Rollouts refused because they were unknown, altered or sent with the wrong request.
    public var rejectedRollouts = 0
    public var finetunes: [FinetuneSummary] = []

    public init() {}

    package enum CodingKeys: String, CodingKey {
        case requestsTotal = "requests_total", requestsByEndpoint = "requests_by_endpoint"
        case responsesByStatus = "responses_by_status", inFlight = "in_flight", maxInFlight = "max_in_flight"
        case faultsInjected = "faults_injected", refused, trainStepsApplied = "train_steps_applied"
        case doubleApplications = "double_applications", rejectedRollouts = "rejected_rollouts", finetunes
    }
}
