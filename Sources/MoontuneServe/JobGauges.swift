import CoreMetrics
import Foundation
import MoontuneDecisions
import MoontuneLoop
import MoontuneStore
import struct Prometheus.PrometheusMetricsFactory
import Synchronization

/// The per-job series of `/metrics`, kept between scrapes (issue 21).
///
/// A job this daemon runs feeds its figures as its events happen (`observer(jobID:)`, between
/// `beginRun` and `endRun`), as swift-jobs' metrics middleware does: its figures are read from the
/// database once, when it starts, and a scrape only renders them. An event the figures cannot
/// follow exactly (a reconciliation, which may rewind or apply steps without their statistics)
/// has them read again once, at the next scrape.
///
/// Every other job (those that ran before the daemon started, or run by another process such as
/// `moontune run` on the same database) is followed from the jobs' heads: a scrape reads them (one
/// small query: no configs, no steps) and reloads the figures of a job only when its head changed
/// since they were loaded: a running job's at most once a heartbeat, a finished job's once. So a
/// daemon with a long history answers as fast as a new one. A job that ended more than
/// `retentionMs` ago loses its series altogether (they come back if it runs again).
final class JobGauges: Sendable {
    struct Figures: Sendable, Equatable {
        var version: Int64
        var step: Int
        var rewardMean: Double?
        var stepSeconds: Double?
        var evalReward: Double?
        /// Retries counted in the steps' records; those outside steps are in the job's head.
        var stepRetries: Int
        var reconciliations: Int
    }

    /// A job fed by its own events.
    private struct Feed {
        /// Its run under this daemon has not ended yet.
        var running = true
        /// An event the figures could not follow: read them again at the next scrape.
        var stale = false
    }

    private struct State {
        var figures: [Int64: Figures] = [:]
        /// The series each job has in the registry, by job id (its name, as labelled).
        var named: [Int64: String] = [:]
        var dropped: Set<Int64> = []
        /// The jobs whose figures follow their events, by id.
        var feeds: [Int64: Feed] = [:]
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

    /// Starts feeding the figures of job `jobID` from its events: reads them once (its figures
    /// so far). Called before the job's run starts; a job whose figures cannot be read now is
    /// followed from its head instead.
    func beginRun(jobID: Int64, store: ProgressStore) async {
        guard let head = try? await store.jobHeads().first(where: { $0.id == jobID }),
              let loaded = try? await load(head, store: store) else {
            state.withLock { _ = $0.feeds.removeValue(forKey: jobID) }
            return
        }
        state.withLock { state in
            state.figures[jobID] = loaded
            state.feeds[jobID] = Feed()
            state.loads += 1
        }
    }

    /// The job's run under this daemon is over: the next scrape takes its head as it is then
    /// (its figures are those of its last events), and from then on follows the head again.
    func endRun(jobID: Int64) {
        state.withLock { $0.feeds[jobID]?.running = false }
    }

    /// The observer that feeds job `jobID`'s figures from its run's events.
    func observer(jobID: Int64) -> any RunObserver {
        GaugesObserver(gauges: self, jobID: jobID)
    }

    /// One event of job `jobID`'s run, applied to its figures as a reload would read them after it.
    func apply(_ event: RunEvent, jobID: Int64) {
        state.withLock { state in
            guard state.feeds[jobID] != nil, var figures = state.figures[jobID] else { return }
            switch event {
            case let .stepApplied(step, _, statistics):
                // As recorded: the step's figures (`StepFigures`), skipped steps included.
                if step >= figures.step {
                    figures.step = step
                    figures.rewardMean = statistics.rewards?.mean
                    figures.stepSeconds = statistics.wallMs.map { $0 / 1000 }
                }
                figures.stepRetries += statistics.totalRetries
            case .evalRecorded(_, let summary):
                figures.evalReward = summary.rewardMean
            case .reconciled:
                figures.reconciliations += 1
                state.feeds[jobID]?.stale = true
            default:
                return
            }
            state.figures[jobID] = figures
        }
    }

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
                state.feeds[id] = nil
            }
        }
        for head in heads {
            if head.isFinished && now - head.updatedAtMs > retentionMs {
                let name = state.withLock { state -> String? in
                    state.dropped.insert(head.id)
                    state.figures[head.id] = nil
                    state.feeds[head.id] = nil
                    return state.named.removeValue(forKey: head.id)
                }
                if let name { destroy(name, factory: factory) }
                continue
            }
            // A job fed by its events is read only when an event asked for it; its figures take
            // the head's version, so that once its run is over a reload needs a further change.
            var (figures, reload) = state.withLock { state -> (Figures?, Bool) in
                state.dropped.remove(head.id)
                guard let feed = state.feeds[head.id], var fed = state.figures[head.id] else {
                    return (state.figures[head.id], state.figures[head.id]?.version != head.version)
                }
                if !feed.running && !feed.stale { state.feeds[head.id] = nil }
                fed.version = head.version
                state.figures[head.id] = fed
                return (fed, feed.stale)
            }
            if reload {
                let loaded = try await load(head, store: store)
                state.withLock { state in
                    state.figures[head.id] = loaded
                    state.loads += 1
                    if let feed = state.feeds[head.id] {
                        state.feeds[head.id] = feed.running ? Feed() : nil
                    }
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
                       stepRetries: try await store.totalRetries(jobID: head.id),
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
        gauge("moontune_job_retries", labels, factory).record(figures.stepRetries + head.retriesOutsideSteps)
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

/// Feeds one job's figures in `JobGauges` from its run's events.
private struct GaugesObserver: RunObserver {
    let gauges: JobGauges
    let jobID: Int64

    func record(_ event: RunEvent) {
        gauges.apply(event, jobID: jobID)
    }
}
