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
/// eval reward, step time, retries and reconciliations, kept between scrapes (`JobGauges`): fed by
/// the events of the jobs this daemon runs, reloaded for other jobs only when their head changed;
/// a job that ended over an hour ago has no series.
/// Per key: requests in flight, the budget in force, 429s and requests by endpoint and code.
final class ServeMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    /// The per-job series.
    let jobs: JobGauges

    init(jobRetentionMs: Int64 = 3_600_000) {
        factory = PrometheusMetricsFactory(registry: registry)
        jobs = JobGauges(retentionMs: jobRetentionMs)
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
        // Per job: kept between scrapes, fed by this daemon's jobs' events; other jobs are reloaded
        // only when they changed (JobGauges).
        try await jobs.refresh(store: store, databasePath: databasePath, now: now, factory: factory) { budget.inFlight(job: $0) }
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
