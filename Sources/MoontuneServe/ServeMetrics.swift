import CoreMetrics
import Metrics
import Foundation
import MoondreamAPI
import MoontuneStore
import struct Prometheus.PrometheusMetricsFactory
import class Prometheus.PrometheusCollectorRegistry

/// `/metrics`: swift-metrics instruments recorded into a swift-prometheus registry of this
/// daemon (not the process-wide bootstrap, so tests can run several), rendered as Prometheus text.
///
/// Per job: step, total steps, state (one series per state, 1 for the current one), reward and
/// eval reward, step time, retries and reconciliations, read from the database at each scrape.
/// Per key: requests in flight, the budget in force, 429s and requests by endpoint and code.
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    static let states = ["pending", "queued", "running", "stopped", "interrupted", "failed", "completed"]

    init() {
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// Counts one request by endpoint and status code (`error` when no answer came).
    func count(keyID: String, _ outcome: RequestBudgetOutcome) {
        let code = outcome.status.map(String.init) ?? "error"
        CoreMetrics.Counter(label: "moontune_api_requests_total", dimensions: [("endpoint", outcome.endpoint), ("code", code), ("key", keyID)],
                factory: factory).increment()
        if outcome.status == 429 {
            CoreMetrics.Counter(label: "moontune_rate_limited_total", dimensions: [("key", keyID)], factory: factory).increment()
        }
    }

    /// Brings every gauge up to date and renders the registry.
    func render(store: ProgressStore, budget: SharedBudget, databasePath: String) async throws -> String {
        let now = ProgressStore.nowMs()
        for job in try await store.allJobs() {
            guard let id = job.id else { continue }
            let labels = [("job", job.name)]
            let state = JobLiveness.displayedState(job, databasePath: databasePath)
            gauge("moontune_job_step", labels).record(try await store.lastAppliedStep(jobID: id))
            gauge("moontune_job_total_steps", labels).record(job.totalSteps)
            for name in Self.states {
                gauge("moontune_job_state", labels + [("state", name)]).record(name == state ? 1 : 0)
            }
            if let last = try await store.recentSteps(jobID: id, count: 1).last {
                if let reward = last.rewardMean { gauge("moontune_job_reward_mean", labels).record(reward) }
                if let wall = last.wallMs { gauge("moontune_job_step_seconds", labels).record(wall / 1000) }
            }
            if let eval = try await store.evals(jobID: id).last {
                gauge("moontune_job_eval_reward_mean", labels).record(eval.rewardMean)
            }
            gauge("moontune_job_retries", labels).record(try await store.totalRetries(jobID: id) + (job.retriesOutsideSteps ?? 0))
            gauge("moontune_job_reconciliations", labels).record(try await store.eventCounts(jobID: id)["reconciled"] ?? 0)
            gauge("moontune_job_requests_in_flight", labels).record(budget.inFlight(job: id))
        }
        gauge("moontune_requests_in_flight", []).record(budget.inFlight)
        gauge("moontune_requests_in_flight_max", []).record(budget.maxInFlight)
        gauge("moontune_requests_in_flight_peak", []).record(budget.peak)
        for key in budget.keys() {
            let labels = [("key", key.keyID)]
            gauge("moontune_key_requests_in_flight", labels).record(key.inFlight)
            gauge("moontune_key_budget", labels).record(key.budget)
            gauge("moontune_key_held_seconds", labels).record(Double(max(0, (key.heldUntilMs ?? now) - now)) / 1000)
        }
        // The pace in force per key (issue 22); 0 when unpaced. 429s: moontune_rate_limited_total.
        for pace in budget.paces() {
            gauge("moontune_key_rate_limit_per_second", [("key", pace.keyID)]).record(pace.pacePerSecond ?? 0)
        }
        return registry.emitToString()
    }

    private func gauge(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory)
    }
}

/// The state `status` shows: `interrupted` for a job recorded running whose runner is gone.
/// (The same rule as the CLI's `LivenessCheck`, by the lock only: the daemon runs on this host.)
enum JobLiveness {
    static func displayedState(_ job: JobRecord, databasePath: String) -> String {
        guard job.state == .running else { return job.state.rawValue }
        return JobLock.isHeld(databasePath: databasePath, jobName: job.name) ? "running" : "interrupted"
    }
}
