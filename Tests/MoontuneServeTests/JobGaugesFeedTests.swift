import Foundation
import MoondreamSimulator
import MoontuneLoop
@testable import MoontuneServe
@testable import MoontuneStore
import struct Prometheus.PrometheusMetricsFactory
import class Prometheus.PrometheusCollectorRegistry
import Testing

/// Issue 21: the per-job series of a job `serve` runs follow the job's events; a scrape renders
/// them without reading the job from the database, and they equal what a reload would read.
@Suite struct JobGaugesFeedTests {
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-feed-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// The lines of job `name`'s series, sorted.
    static func series(_ registry: PrometheusCollectorRegistry, job name: String) -> [String] {
        registry.emitToString().split(separator: "\n").map(String.init).filter { $0.contains(#"job="\#(name)""#) }.sorted()
    }

    /// A queued job of 4 steps on the simulator, with checkpoints and evals every 2 steps.
    static func queueJob(in folder: URL, baseURL: String, store: ProgressStore, databasePath: String) async throws -> Int64 {
        let train = (1...8).map { #"{"id": "t\#($0)", "skill": "query", "question": "\#($0)+\#($0)?", "answer": "\#($0 * 2)"}"# }
        let eval = (1...4).map { #"{"id": "e\#($0)", "skill": "query", "question": "\#($0)+1?", "answer": "\#($0 + 1)"}"# }
        try Data(train.joined(separator: "\n").utf8).write(to: folder.appendingPathComponent("train.jsonl"))
        try Data(eval.joined(separator: "\n").utf8).write(to: folder.appendingPathComponent("eval.jsonl"))
        let config: [String: Any] = [
            "name": "fed", "rank": 8,
            "api": ["base_url": baseURL, "api_key_env": "MOONTUNE_FEED_KEY", "max_backoff_s": 0.5, "in_doubt_wait_s": 0.2,
                    "train_step_timeout_s": 6],
            "data": ["train": folder.appendingPathComponent("train.jsonl").path, "eval": folder.appendingPathComponent("eval.jsonl").path],
            "train": ["steps": 4, "groups_per_step": 2, "rollouts_per_group": 2, "lr": 0.002, "seed": 1, "concurrency": 2],
            "checkpoint": ["every_steps": 2],
            "eval": ["every_steps": 2, "max_examples": 4],
        ]
        let url = folder.appendingPathComponent("config.json")
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: url)
        let admission = try await JobAdmission.admit(.file(url), databasePath: databasePath)
        _ = try await store.submitJob(admission.newRecord(now: ProgressStore.nowMs()), priority: 0, runnerAlive: false,
                                      now: ProgressStore.nowMs())
        return try #require(try await store.job(named: "fed")?.id)
    }

    @Test func aJobRunByTheDaemonIsReadOnceAtItsStartAndItsEventsGiveWhatAReloadReads() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.sqlite").path
        let store = try ProgressStore(path: path)
        let simulator = try await Simulator.start(SimulatorOptions(seed: 3))
        do {
            try await runFedJob(simulator: simulator, folder: folder, store: store, path: path)
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }

    func runFedJob(simulator: RunningSimulator, folder: URL, store: ProgressStore, path: String) async throws {
        let id = try await Self.queueJob(in: folder, baseURL: simulator.baseURL, store: store, databasePath: path)

        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let gauges = JobGauges()
        // As `serve` starts a job: its figures read once, then fed by its events.
        await gauges.beginRun(jobID: id, store: store)
        #expect(gauges.loads == 1)
        var request = RunRequest(source: .recorded(job: "fed"), databasePath: path, environment: ["MOONTUNE_FEED_KEY": "sk-feed"])
        request.observer = RunObservers([request.observer, gauges.observer(jobID: id)])
        let served = request
        let scrapesWhileRunning = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                if case .failure(let error) = await ServedJob.run(served, id: id, active: ActiveJobs()) { throw error }
                return 0
            }
            group.addTask {
                // Scrapes while the job runs (its head changes at every step and heartbeat).
                var scrapes = 0
                while !Task.isCancelled {
                    // The job's end cancels this loop, possibly in the middle of a scrape's read.
                    do {
                        try await gauges.refresh(store: store, databasePath: path, now: ProgressStore.nowMs(), factory: factory) { _ in 0 }
                    } catch is CancellationError {
                        break
                    }
                    #expect(gauges.loads == 1, "a scrape read the running job's figures")
                    scrapes += 1
                    try? await Task.sleep(for: .milliseconds(20))
                }
                return scrapes
            }
            _ = try await group.next()
            group.cancelAll()
            return try await group.next() ?? 0
        }
        #expect(scrapesWhileRunning > 0)
        #expect(try await store.job(id: id)?.state == .completed)

        // After the run, before and after its end is noted: still nothing read.
        try await gauges.refresh(store: store, databasePath: path, now: ProgressStore.nowMs(), factory: factory) { _ in 0 }
        gauges.endRun(jobID: id)
        try await gauges.refresh(store: store, databasePath: path, now: ProgressStore.nowMs(), factory: factory) { _ in 0 }
        #expect(gauges.loads == 1)
        let fed = Self.series(registry, job: "fed")
        #expect(fed.contains(#"moontune_job_step{job="fed"} 4.0"#), "\(fed)")
        #expect(fed.contains(#"moontune_job_state{job="fed",state="completed"} 1.0"#), "\(fed)")
        #expect(fed.contains { $0.hasPrefix("moontune_job_eval_reward_mean") }, "\(fed)")

        // What a daemon that never saw the job reads from the database: the same series.
        let reloaded = PrometheusCollectorRegistry()
        let fresh = JobGauges()
        try await fresh.refresh(store: store, databasePath: path, now: ProgressStore.nowMs(),
                                factory: PrometheusMetricsFactory(registry: reloaded)) { _ in 0 }
        #expect(fresh.loads == 1)
        #expect(Self.series(reloaded, job: "fed") == fed)

        // Once its run is over, the job is followed from its head again: a later change is read.
        try await store.recordEvent(jobID: id, kind: "reconciled", step: nil, message: "by hand", now: ProgressStore.nowMs() + 1)
        try await store.finish(jobID: id, state: .completed, error: nil, now: ProgressStore.nowMs() + 1)
        try await gauges.refresh(store: store, databasePath: path, now: ProgressStore.nowMs() + 1, factory: factory) { _ in 0 }
        #expect(gauges.loads == 2)
        #expect(Self.series(registry, job: "fed").contains(#"moontune_job_reconciliations{job="fed"} 1.0"#))
    }

    @Test func aReconciliationHasTheFiguresOfAFedJobReadAgainOnce() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.sqlite").path
        let store = try ProgressStore(path: path)
        let now = ProgressStore.nowMs()
        try await store.writeSyntheticHistory(jobs: 3, steps: 10, now: now)
        let id = try #require(try await store.job(named: "history-1")?.id)
        let factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
        let gauges = JobGauges(retentionMs: 365 * 24 * 3_600_000)
        try await gauges.refresh(store: store, databasePath: path, now: now, factory: factory) { _ in 0 }
        #expect(gauges.loads == 3)
        await gauges.beginRun(jobID: id, store: store)
        #expect(gauges.loads == 4)
        gauges.apply(.reconciled(step: 10, message: "found on the server"), jobID: id)
        try await gauges.refresh(store: store, databasePath: path, now: now, factory: factory) { _ in 0 }
        #expect(gauges.loads == 5)
        try await gauges.refresh(store: store, databasePath: path, now: now, factory: factory) { _ in 0 }
        #expect(gauges.loads == 5)
    }
}
