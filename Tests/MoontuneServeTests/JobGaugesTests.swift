import Foundation
@testable import MoontuneServe
@testable import MoontuneStore
import struct Prometheus.PrometheusMetricsFactory
import class Prometheus.PrometheusCollectorRegistry
import Testing

/// Issue 21: `/metrics` keeps each job's series between scrapes, reloads only the jobs that
/// changed, and drops the series of jobs that ended long ago.
@Suite struct JobGaugesTests {
    @Test func anUnchangedHistoryIsReadOnceAndOldJobsLoseTheirSeries() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-gauges-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.sqlite").path
        let store = try ProgressStore(path: path)
        let now = ProgressStore.nowMs()
        try await store.writeSyntheticHistory(jobs: 60, steps: 100, now: now)
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let gauges = JobGauges(retentionMs: 365 * 24 * 3_600_000)
        try await gauges.refresh(store: store, databasePath: path, now: now, factory: factory) { _ in 0 }
        #expect(gauges.loads == 60)
        let text = registry.emitToString()
        #expect(text.contains(#"moontune_job_step{job="history-7"} 100"#), "\(text.prefix(2000))")
        #expect(text.contains(#"moontune_job_state{job="history-7",state="completed"} 1"#))
        // A second scrape of the same history reads no job's figures again.
        try await gauges.refresh(store: store, databasePath: path, now: now, factory: factory) { _ in 0 }
        #expect(gauges.loads == 60)

        // Hours later, with a retention of a minute, the jobs that ended long ago lose their series,
        // and nothing is read for them.
        let short = JobGauges(retentionMs: 60_000)
        let pruned = PrometheusCollectorRegistry()
        let later = now + 10 * 3_600_000
        try await short.refresh(store: store, databasePath: path, now: later, factory: PrometheusMetricsFactory(registry: pruned)) { _ in 0 }
        #expect(!pruned.emitToString().contains("history-"), "no series of jobs that ended hours ago")
        #expect(short.loads == 0)
        // Series already in a registry are removed when their job's retention ends.
        try await gauges.refresh(store: store, databasePath: path, now: later + 366 * 24 * 3_600_000, factory: factory) { _ in 0 }
        #expect(!registry.emitToString().contains("history-"), "\(registry.emitToString().prefix(500))")
    }
}
