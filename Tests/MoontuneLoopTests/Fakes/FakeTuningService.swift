import Foundation
@testable import MoondreamAPI
import MoontuneLoop
import Synchronization

/// The tuning API in memory: one finetune whose step moves only when a train_step is applied,
/// and checkpoints saved at its current step. Each train_step can be scripted to go wrong the
/// ways the real one does.
final class FakeTuningService: TuningService {
    enum TrainBehaviour: Sendable, Equatable {
        /// Applied, and answered (with `step` and `applied` when `answersStep`).
        case apply
        /// Applied, but the answer is lost: ambiguous.
        case applyAndLoseAnswer(mayStillBeRunning: Bool)
        /// Not applied, and no answer: ambiguous.
        case loseWithoutApplying(mayStillBeRunning: Bool)
        /// No answer (ambiguous); the server applies it once `afterMs` have passed since it was
        /// sent, as the next call after that moment sees.
        case landLate(afterMs: Int64)
        /// Refused with this status: not applied.
        case refuse(APIError.Kind, status: Int)
        /// Never delivered (no connection): not applied, not ambiguous.
        case neverDelivered
        /// `applied: false`, the step unchanged.
        case decline
        /// Applied, then another client applies one more.
        case applyThenAnotherClient
        /// Applied, then the finetune is restored to an older step.
        case applyThenRestore(to: Int)
        /// The runner dies with this train_step in flight; `lands` says whether the server got it.
        case crash(lands: Bool)
        /// No answer (ambiguous), and the server does not apply it until just before the next
        /// train_step arrives: it lands after the client gave up on it.
        case landWithNextTrainStep
        /// Not applied, no answer (ambiguous), and meanwhile the finetune is restored to an older step.
        case restoreAndLoseAnswer(to: Int)
    }

    private struct State {
        var finetuneID: String?
        var step = 0
        var checkpoints: [Int: Checkpoint] = [:]
        var script: [TrainBehaviour] = []
        var trainCalls = 0
        var applications = 0
        var late: [Int64] = []
        var evalInFlight = 0
        var evalPeak = 0
        var evalCalls = 0
        var crashAfterNextDelete = false
        /// Crash at the first save asked for once a checkpoint at this step exists (issue 20's final check).
        var crashAtSaveAfterCheckpoint: Int?
        var crashBeforeNextDelete = false
        var deletes: [Int] = []
        /// Policy ids of steps 0...step: a step applied adds a new one, a restore drops the later ones.
        var lineage = [0]
        var nextPolicy = 1
        var landsWithNext = 0
        /// train_steps whose rollouts came from a policy the server no longer has or too old.
        var staleTrains = 0
        /// The rewards of every RL group train_step received, call by call.
        var sentRewards: [[[Double]]] = []
        var rolloutCalls = 0
    }

    let answersStep: Bool
    let maxStaleness: Int
    let clock: VirtualClock
    private let state = Mutex(State())
    /// What a crash does to the runner's store (the test sets it to `store.crash()`).
    let onCrash: @Sendable () async -> Void

    init(answersStep: Bool = true, maxStaleness: Int = 0, clock: VirtualClock, onCrash: @escaping @Sendable () async -> Void = {}) {
        self.answersStep = answersStep
        self.maxStaleness = maxStaleness
        self.clock = clock
        self.onCrash = onCrash
    }

    // MARK: - Scripting and reading

    /// The next train_step calls behave so, in order; later ones apply.
    func script(_ behaviours: TrainBehaviour...) { state.withLock { $0.script += behaviours } }
    func setStep(_ step: Int) { state.withLock { $0.step = step } }
    func crashAfterNextDelete() { state.withLock { $0.crashAfterNextDelete = true } }
    /// The runner dies at the first save asked for once the checkpoint at `step` was saved.
    func crashAtSaveAfterCheckpoint(_ step: Int) { state.withLock { $0.crashAtSaveAfterCheckpoint = step } }
    func crashBeforeNextDelete() { state.withLock { $0.crashBeforeNextDelete = true } }
    var staleTrains: Int { state.withLock { $0.staleTrains } }
    var step: Int { state.withLock { $0.step } }
    var applications: Int { state.withLock { $0.applications } }
    var trainCalls: Int { state.withLock { $0.trainCalls } }
    var checkpointSteps: [Int] { state.withLock { $0.checkpoints.keys.sorted() } }
    var evalPeak: Int { state.withLock { $0.evalPeak } }
    var evalCalls: Int { state.withLock { $0.evalCalls } }
    var deletes: [Int] { state.withLock { $0.deletes } }
    var sentRewards: [[[Double]]] { state.withLock { $0.sentRewards } }
    var rolloutCalls: Int { state.withLock { $0.rolloutCalls } }

    /// Late steps whose moment has come land now.
    private func land(_ state: inout State) {
        let now = clock.nowMs()
        let due = state.late.filter { $0 <= now }
        state.late.removeAll { $0 <= now }
        for _ in due { Self.applyOne(&state) }
    }

    private static func applyOne(_ state: inout State) {
        state.step += 1
        state.applications += 1
        state.lineage.append(state.nextPolicy)
        state.nextPolicy += 1
    }

    private static func restore(_ state: inout State, to step: Int) {
        state.step = step
        state.lineage = Array(state.lineage.prefix(step + 1))
    }

    // MARK: - TuningService

    func createFinetune(name: String, rank: Int) async throws -> String {
        state.withLock { state in
            if state.finetuneID == nil { state.finetuneID = "ft-\(name)" }
            return state.finetuneID!
        }
    }

    func finetune(id: String) async throws -> Finetune {
        Finetune(finetuneID: id, name: "job", rank: 8)
    }

    func rollouts(_ request: EncodedRolloutsRequest) async throws -> RolloutsResponse {
        state.withLock { $0.rolloutCalls += 1 }
        return try Self.response(skill: request.skill, count: 2, policy: state.withLock { $0.lineage.last ?? 0 })
    }

    func rollouts(_ request: RolloutsRequest) async throws -> RolloutsResponse {
        state.withLock { state in
            state.evalCalls += 1
            state.evalInFlight += 1
            state.evalPeak = max(state.evalPeak, state.evalInFlight)
        }
        defer { state.withLock { $0.evalInFlight -= 1 } }
        // Hold the request a while, so that requests started together overlap.
        for _ in 0..<20 { await Task.yield() }
        return try Self.response(skill: request.request.skill, count: 1)
    }

    static func response(skill: Skill, count: Int, policy: Int = 0) throws -> RolloutsResponse {
        let text = #"{"skill": "point", "sampled_from": \#(policy), "output": {"points": [{"x": 0.5, "y": 0.5}]}}"#
        let rollout = Rollout(raw: try RawJSON(validating: text), skill: skill)
        return RolloutsResponse(request: try RawJSON(validating: #"{"skill": "point"}"#), rollouts: Array(repeating: rollout, count: count),
                                rewards: nil)
    }

    func trainStep(finetuneID: String, groups: [TrainGroup], lr: Double?, timeout: Duration?) async throws -> TrainStepResult {
        let endpoint = "POST /tuning/train_step"
        let (behaviour, step): (TrainBehaviour, Int) = state.withLock { state in
            land(&state)
            for _ in 0..<state.landsWithNext { Self.applyOne(&state) }
            state.landsWithNext = 0
            state.trainCalls += 1
            state.sentRewards.append(groups.compactMap { group in
                guard case let .rl(_, _, rewards) = group else { return nil }
                return rewards
            })
            // Every rollout must come from a policy the server has, at most maxStaleness steps old.
            for group in groups {
                guard case let .rl(_, rollouts, _) = group else { continue }
                for rollout in rollouts {
                    let policy = rollout["sampled_from"].flatMap { try? $0.decode(Int.self) } ?? -1
                    guard let index = state.lineage.firstIndex(of: policy), state.lineage.count - 1 - index <= maxStaleness else {
                        state.staleTrains += 1
                        break
                    }
                }
            }
            let behaviour = state.script.isEmpty ? .apply : state.script.removeFirst()
            switch behaviour {
            case .apply, .applyAndLoseAnswer, .applyThenAnotherClient, .applyThenRestore, .crash(lands: true):
                Self.applyOne(&state)
            case .landLate(let afterMs):
                state.late.append(clock.nowMs() + afterMs)
            case .landWithNextTrainStep:
                state.landsWithNext += 1
            case .restoreAndLoseAnswer(let older):
                Self.restore(&state, to: older)
            case .decline, .loseWithoutApplying, .refuse, .neverDelivered, .crash(lands: false):
                break
            }
            if case .applyThenAnotherClient = behaviour { Self.applyOne(&state) }
            if case .applyThenRestore(let older) = behaviour { Self.restore(&state, to: older) }
            return (behaviour, state.step)
        }
        switch behaviour {
        case .apply, .applyThenAnotherClient, .applyThenRestore:
            return try answer(step: step, applied: true)
        case .decline:
            return try answer(step: step, applied: false)
        case .applyAndLoseAnswer(let running), .loseWithoutApplying(let running):
            throw running
                ? APIError(kind: .transport(.timeout), endpoint: endpoint, message: "timed out", isAmbiguous: true)
                : APIError(kind: .server, endpoint: endpoint, status: 500, message: "internal error", isAmbiguous: true)
        case .landLate, .landWithNextTrainStep, .restoreAndLoseAnswer:
            throw APIError(kind: .transport(.timeout), endpoint: endpoint, message: "timed out", isAmbiguous: true)
        case let .refuse(kind, status):
            throw APIError(kind: kind, endpoint: endpoint, status: status, message: "refused")
        case .neverDelivered:
            throw APIError(kind: .transport(.connect), endpoint: endpoint, message: "connection refused")
        case .crash:
            await onCrash()
            throw SimulatedCrash()
        }
    }

    private func answer(step: Int, applied: Bool) throws -> TrainStepResult {
        let text = answersStep ? #"{"step": \#(step), "applied": \#(applied), "kl": 0.01}"# : (applied ? "{}" : #"{"applied": false}"#)
        return TrainStepResult(raw: try RawJSON(validating: text))
    }

    func saveCheckpoint(finetuneID: String) async throws -> Checkpoint {
        let crash = state.withLock { state in
            guard let step = state.crashAtSaveAfterCheckpoint, state.checkpoints[step] != nil else { return false }
            state.crashAtSaveAfterCheckpoint = nil
            return true
        }
        if crash {
            await onCrash()
            throw SimulatedCrash()
        }
        return try state.withLock { state in
            land(&state)
            guard state.step > 0 else {
                throw APIError(kind: .notFound, endpoint: "POST /tuning/finetunes/\(finetuneID)/checkpoints/save", status: 404,
                               message: "the finetune has no step to save")
            }
            let checkpoint = Checkpoint(checkpointID: "ck-\(state.step)", finetuneID: finetuneID, step: state.step)
            state.checkpoints[state.step] = checkpoint
            return checkpoint
        }
    }

    func checkpoints(finetuneID: String) async throws -> [Checkpoint] {
        state.withLock { $0.checkpoints.values.sorted { $0.step < $1.step } }
    }

    func deleteCheckpoint(finetuneID: String, step: Int) async throws {
        let before = state.withLock { state in
            defer { state.crashBeforeNextDelete = false }
            return state.crashBeforeNextDelete
        }
        if before {
            await onCrash()
            throw SimulatedCrash()
        }
        let crash = try state.withLock { state in
            guard state.checkpoints.removeValue(forKey: step) != nil else {
                throw APIError(kind: .notFound, endpoint: "DELETE /tuning/finetunes/\(finetuneID)/checkpoints/\(step)", status: 404,
                               message: "no such checkpoint")
            }
            state.deletes.append(step)
            defer { state.crashAfterNextDelete = false }
            return state.crashAfterNextDelete
        }
        if crash {
            await onCrash()
            throw SimulatedCrash()
        }
    }

    func logMetrics(finetuneID: String, step: Int, metrics: [String: Double]) async throws -> Int {
        metrics.count
    }
}
