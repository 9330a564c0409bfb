import MoontuneJSON
import Foundation

/// All the simulator's state — finetunes, policies, issued rollouts, counters, faults — behind one
/// actor. Handlers parse and validate bodies outside it and call in with typed input; every
/// method here is short and never suspends, so requests see a consistent state.
package actor SimulatorEngine {
    nonisolated package let seed: UInt64
    nonisolated package let apiKey: String?
    /// Live-service answers (the default) or the reference's.
    nonisolated package let style: AnswerStyle
    /// The time for ids, timestamps and outages; the HTTP face waits on it too.
    nonisolated package let clock: any SimulatorClock
    package private(set) var faults: FaultOptions

    /// Separate streams, so that turning faults on does not change what the policies sample.
    private var sampling: SimRandom
    private var faultRandom: SimRandom
    private var idRandom: SimRandom

    package var finetunes: [String: FinetuneRecord] = [:]
    /// `slow_train_steps` already slowed, as `finetune@step`: each is slow once.
    private var slowedSteps: Set<String> = []
    private var creationOrder: [String] = []
    package var registry = RolloutRegistry()
    package var counters = SimulatorStats()
    /// The per-key token buckets of `--rate-limit` (TokenBuckets.swift).
    package var buckets = TokenBuckets()
    private var outage: (until: Duration, status: Int)?
    /// Numbers the `seq` metadata of rollouts: above 2^53, so a client that reads it as a Double
    /// changes it.
    package var rolloutSequence: UInt64 = 9_007_199_254_740_993

    package init(seed: UInt64, apiKey: String?, faults: FaultOptions, style: AnswerStyle = AnswerStyle(),
         clock: any SimulatorClock = SystemSimulatorClock()) {
        self.seed = seed
        self.apiKey = apiKey
        self.style = style
        self.faults = faults
        self.clock = clock
        sampling = SimRandom(seed: seed, stream: 1)
        faultRandom = SimRandom(seed: seed, stream: 2)
        idRandom = SimRandom(seed: seed, stream: 3)
    }

    package var nowMs: Int64 { clock.epochMilliseconds }

    package func makeID() -> String { ULID.make(milliseconds: nowMs, random: &idRandom) }

    package func drawSample(_ call: SkillCall, policy: Policy) -> PolicySample {
        policy.sample(call, random: &sampling)
    }

    // MARK: Requests, faults and counters

    package enum Admission: Sendable, Equatable {
        case proceed
        case outage(status: Int)
    }

    /// Counts a `/v1` request on arrival and says whether an outage answers it.
    package func admit(endpoint: String) -> Admission {
        counters.requestsTotal += 1
        counters.requestsByEndpoint[endpoint, default: 0] += 1
        counters.inFlight += 1
        counters.maxInFlight = max(counters.maxInFlight, counters.inFlight)
        if let outage {
            if clock.now < outage.until {
                counters.faultsInjected.outage += 1
                return .outage(status: outage.status)
            }
            self.outage = nil
        }
        return .proceed
    }

    /// Counts the answer of a `/v1` request (nil: the connection was dropped).
    package func finish(status: Int?) {
        counters.inFlight -= 1
        if let status { counters.responsesByStatus[String(status), default: 0] += 1 }
    }

    package func drawFault() -> FaultDecision {
        let decision = FaultDecision.decide(faults, roll: faultRandom.unit(), pick: faultRandom.unit())
        switch decision {
        case .none: break
        case .drop: counters.faultsInjected.dropped += 1
        case .serverError: counters.faultsInjected.serverError += 1
        case .rateLimit: counters.faultsInjected.rateLimited += 1
        case .hang: counters.faultsInjected.hang += 1
        }
        return decision
    }

    package func drawAmbiguous() -> AmbiguousOutcome? {
        let outcome = AmbiguousOutcome.decide(faults, roll: faultRandom.unit(), pick: faultRandom.unit())
        if outcome != nil { counters.faultsInjected.ambiguousTrainStep += 1 }
        return outcome
    }

    package func noteRefusedTrainStep() { counters.refused += 1 }

    /// Whether this train_step is a slow one, and how long it takes (nothing is drawn when the
    /// rate is 0, so seeded fault sequences stay as they were).
    package func drawSlowTrain(finetuneID: String) -> Int? {
        // A chosen step is slow the first time a train_step would reach it (issue 20's late landing).
        if faults.slowTrainMs > 0, !faults.slowTrainSteps.isEmpty, let current = finetunes[finetuneID]?.step,
           faults.slowTrainSteps.contains(current + 1), slowedSteps.insert("\(finetuneID)@\(current + 1)").inserted {
            counters.faultsInjected.slowTrainStep += 1
            return faults.slowTrainMs
        }
        guard faults.slowTrainRate > 0, faults.slowTrainMs > 0, faultRandom.unit() < faults.slowTrainRate else { return nil }
        counters.faultsInjected.slowTrainStep += 1
        return faults.slowTrainMs
    }

    /// Whether a valid train_step is answered `applied: false` (live answers only).
    package func drawUnapplied() -> Bool {
        guard style.live, faults.unappliedTrainRate > 0, faultRandom.unit() < faults.unappliedTrainRate else { return false }
        counters.faultsInjected.unappliedTrainStep += 1
        return true
    }

    // MARK: Control

    package func setFaults(_ options: FaultOptions) { faults = options }

    package func patchFaults(_ patch: JSONValue) throws(APIFailure) -> FaultOptions {
        faults = try faults.merging(patch)
        return faults
    }

    package func startOutage(seconds: Double, status: Int) {
        outage = (clock.now + .milliseconds(Int64((seconds * 1000).rounded())), status)
    }

    package func stats() -> SimulatorStats {
        var snapshot = counters
        snapshot.finetunes = creationOrder.compactMap { finetunes[$0]?.summary }
        return snapshot
    }

    /// Zeroes the counters; finetunes, policies and checkpoints stay.
    package func resetStats() {
        let inFlight = counters.inFlight
        counters = SimulatorStats()
        counters.inFlight = inFlight
        counters.maxInFlight = inFlight
        for id in creationOrder {
            finetunes[id]?.trainStepsApplied = 0
            finetunes[id]?.doubleApplications = 0
        }
    }

    // MARK: Finetunes

    /// The live (not deleted) finetune, or 404.
    package func liveFinetune(_ id: String) throws(APIFailure) -> FinetuneRecord {
        guard let record = finetunes[id], !record.deleted else { throw .notFound("finetune \(id) does not exist") }
        return record
    }

    package func createFinetune(name: String, rank: Int) throws(APIFailure) -> JSONValue {
        if let existing = creationOrder.lazy.compactMap({ self.finetunes[$0] }).first(where: { !$0.deleted && $0.name == name }) {
            guard existing.rank == rank else {
                throw .conflict("finetune '\(name)' already exists with rank \(existing.rank), not \(rank)")
            }
            return .members([("finetune_id", .string(existing.finetuneID))])
        }
        let now = nowMs
        let record = FinetuneRecord(finetuneID: makeID(), name: name, rank: rank, creationIndex: creationOrder.count + 1,
                                    createdAtMs: now, updatedAtMs: now, policy: Policy(seed: seed))
        finetunes[record.finetuneID] = record
        creationOrder.append(record.finetuneID)
        return .members([("finetune_id", .string(record.finetuneID))])
    }

    package func listFinetunes(limit: Int, after: Int?) -> JSONValue {
        let live = creationOrder.compactMap { finetunes[$0] }.filter { !$0.deleted && $0.creationIndex > (after ?? 0) }
        let page = Array(live.prefix(limit))
        let hasMore = live.count > page.count
        let next: JSONValue = hasMore ? .string(PageCursor.encode(after: page.last?.creationIndex ?? 0)) : .null
        return .members([("finetunes", .list(page.map(\.json))), ("next_cursor", next), ("has_more", .bool(hasMore))])
    }

    package func getFinetune(_ id: String) throws(APIFailure) -> JSONValue {
        let json = try liveFinetune(id).json
        return style.wrapFinetune ? .members([("finetune", json)]) : json
    }

    // MARK: Metrics

    /// `POST /tuning/finetunes/:id/metrics`: keeps the values by step (a name pushed again for a
    /// step keeps its last value).
    package func logMetrics(_ id: String, _ input: MetricsInput) throws(APIFailure) -> JSONValue {
        _ = try liveFinetune(id)
        for (name, value) in input.metrics { finetunes[id]?.metrics[input.step, default: [:]][name] = value }
        finetunes[id]?.metricPushes += 1
        return .members([("ok", .bool(true)), ("step", .int(input.step)), ("logged_count", .int(input.metrics.count))])
    }

    /// What clients pushed to a finetune (deleted ones included), by step ascending.
    package func loggedMetrics(_ id: String) throws(APIFailure) -> JSONValue {
        guard let record = finetunes[id] else { throw .notFound("finetune \(id) does not exist") }
        let steps: [JSONValue] = record.metrics.keys.sorted().map { step in
            let values = record.metrics[step] ?? [:]
            return .members([("step", .int(step)),
                            ("metrics", .members(values.keys.sorted().map { ($0, JSONValue.canonicalDouble(values[$0] ?? 0)) }))])
        }
        return .members([("finetune_id", .string(id)), ("pushes", .int(record.metricPushes)), ("steps", .list(steps))])
    }

    package func metricsByStep(_ id: String) -> [Int: [String: Double]] { finetunes[id]?.metrics ?? [:] }

    package func deleteFinetune(_ id: String) throws(APIFailure) -> JSONValue {
        _ = try liveFinetune(id)
        finetunes[id]?.deleted = true
        finetunes[id]?.updatedAtMs = nowMs
        return .members([("ok", .bool(true))])
    }
}
