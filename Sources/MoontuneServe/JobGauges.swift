import CoreMetrics
import Foundation
import MoontuneStore
import struct Prometheus.PrometheusMetricsFactory
import Synchronization

/// The per-job series of `/metrics`, kept between scrapes (issue 21).
///
/// A scrape reads the jobs' heads (one small query: no configs, no steps) and reloads the figures
/// of a job only when its head changed since they were loaded: a running job's at most once a
/// heartbeat, a finished job's once. So a daemon with a long history answers as fast as a new one,
/// instead of running half a dozen queries per job ever run at every scrape. A job that ended more
/// than `retentionMs` ago loses its series altogether (they come back if it runs again).
final class JobGauges: Sendable {
    struct Figures: Sendable, Equatable {
        var version: Int64
        var step: Int
        var rewardMean: Double?
        var stepSeconds: Double?
        var evalReward: Double?
        var retries: Int
        var reconciliations: Int
    }

    private struct State {
        var figures: [Int64: Figures] = [:]
        /// The series each job has in the registry, by job id (its name, as labelled).
        var named: [Int64: String] = [:]
        var dropped: Set<Int64> = []
        /// Figure loads so far (for tests: a scrape of an unchanged history loads none).
        var loads = 0
    }

    private let state = Mutex(State())
    let retentionMs: Int64
    static let states = ["pending", "queued", "running", "stopped", "interrupted", "failed", "completed"]

    init(retentionMs: Int64 = 3_600_000) {
        self.retentionMs = retentionMs
    }

    /// How many jobs' figures were read from the database so far.
    var loads: Int { state.withLock { $0.loads } }

    /// Brings every job's series up to date with the database and writes them to `factory`.
    func refresh(store: ProgressStore, databasePath: String, now: Int64, factory: PrometheusMetricsFactory,
                 inFlight: (Int64) -> Int) async throws {
        let heads = try await store.jobHeads()
        let present = Set(heads.map(\.id))
        for (id, name) in state.withLock({ state in state.named.filter { !present.contains($0.key) } }) {
            destroy(name, factory: factory)
            state.withLock { state in
                state.named[id] = nil
                state.figures[id] = nil
            }
        }
        for head in heads {
            if head.isFinished && now - head.updatedAtMs > retentionMs {
                let name = state.withLock { state -> String? in
                    state.dropped.insert(head.id)
                    state.figures[head.id] = nil
                    return state.named.removeValue(forKey: head.id)
                }
                if let name { destroy(name, factory: factory) }
                continue
            }
            var figures = state.withLock { state in
                state.dropped.remove(head.id)
                return state.figures[head.id]
            }
            if figures?.version != head.version {
                let loaded = try await load(head, store: store)
                state.withLock { state in
                    state.figures[head.id] = loaded
                    state.loads += 1
                }
                figures = loaded
            }
            guard let figures else { continue }
            let renamed = state.withLock { state -> String? in
                defer { state.named[head.id] = head.name }
                return state.named[head.id].flatMap { $0 == head.name ? nil : $0 }
            }
            if let renamed { destroy(renamed, factory: factory) }
            record(head, figures, state: JobLiveness.displayedState(head, databasePath: databasePath, now: now),
                   inFlight: inFlight(head.id), factory: factory)
        }
    }

    private func load(_ head: JobHead, store: ProgressStore) async throws -> Figures {
        let last = try await store.recentSteps(jobID: head.id, count: 1).last
        return Figures(version: head.version, step: try await store.lastAppliedStep(jobID: head.id), rewardMean: last?.rewardMean,
                       stepSeconds: last?.wallMs.map { $0 / 1000 }, evalReward: try await store.lastEval(jobID: head.id)?.rewardMean,
                       retries: try await store.totalRetries(jobID: head.id) + head.retriesOutsideSteps,
                       reconciliations: try await store.eventCounts(jobID: head.id)["reconciled"] ?? 0)
    }

    private func record(_ head: JobHead, _ figures: Figures, state displayed: String, inFlight: Int, factory: PrometheusMetricsFactory) {
        let labels = [("job", head.name)]
        gauge("moontune_job_step", labels, factory).record(figures.step)
        gauge("moontune_job_total_steps", labels, factory).record(head.totalSteps)
        for name in Self.states {
            gauge("moontune_job_state", labels + [("state", name)], factory).record(name == displayed ? 1 : 0)
        }
        if let reward = figures.rewardMean { gauge("moontune_job_reward_mean", labels, factory).record(reward) }
        if let seconds = figures.stepSeconds { gauge("moontune_job_step_seconds", labels, factory).record(seconds) }
        if let eval = figures.evalReward { gauge("moontune_job_eval_reward_mean", labels, factory).record(eval) }
        gauge("moontune_job_retries", labels, factory).record(figures.retries)
        gauge("moontune_job_reconciliations", labels, factory).record(figures.reconciliations)
        gauge("moontune_job_requests_in_flight", labels, factory).record(inFlight)
    }

    /// Removes every series of the job `name` from the registry.
    private func destroy(_ name: String, factory: PrometheusMetricsFactory) {
        let labels = [("job", name)]
        for label in ["moontune_job_step", "moontune_job_total_steps", "moontune_job_reward_mean", "moontune_job_step_seconds",
                      "moontune_job_eval_reward_mean", "moontune_job_retries", "moontune_job_reconciliations",
                      "moontune_job_requests_in_flight"] {
            gauge(label, labels, factory).destroy()
        }
        for state in Self.states { gauge("moontune_job_state", labels + [("state", state)], factory).destroy() }
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)], _ factory: PrometheusMetricsFactory) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}
