import Foundation
import MoondreamAPI
import MoontuneConfig
import MoontuneJSON
import MoontuneStore
import Synchronization

/// MLflow: one run per job, named after it and found again on resume (its id is recorded, and a
/// key tagged on it before its id could be recorded); the config as params; the points as
/// metrics at their step; the finetune and its checkpoints as tags; `report.html` and the run's
/// status when the job ends.
///
/// Exactly once: the marks move after the server accepted a batch. A batch whose outcome is not
/// known (the first after a restart, or one whose call failed in a way that may have applied it)
/// is checked against the run's metric history first, and only what the run lacks is sent.
package final class MLflowTracker: Tracker {
    let settings: MLflowConfig
    let client: MLflowClient
    let transport: any HTTPTransport
    /// The run as opened this session.
    private let run = Mutex<MLflowClient.RunInfo?>(nil)
    /// Whether the next batch may already be on the server (a restart, a failed call).
    private let inDoubt = Mutex(true)
    static let metricsPerCall = 1000
    static let paramsPerCall = 100
    static let maxParamLength = 6000

    package init(settings: MLflowConfig, environment: [String: String], transport: (any HTTPTransport)? = nil) {
        self.settings = settings
        let transport = transport ?? AsyncHTTPTransport(maxConnections: 2, connectTimeout: .seconds(5))
        self.transport = transport
        client = MLflowClient(baseURL: settings.trackingURI, environment: environment, transport: transport)
    }

    package var name: String { "mlflow" }
    package var target: String { Self.target(settings) }
    static func target(_ settings: MLflowConfig) -> String { "\(settings.trackingURI) experiment \(settings.experiment)" }

    package func open(_ state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        var state = state
        let experimentID = try await client.experimentID(named: settings.experiment)
        var info: MLflowClient.RunInfo?
        if let runID = state.runID, state.experimentID == experimentID {
            info = try await client.getRun(runID)
            if info == nil || info?.lifecycleStage == "deleted" {
                // The run was deleted on the server: a new one, with everything again.
                info = nil
                var fresh = TrackerState(jobID: state.jobID, tracker: state.tracker, target: state.target, now: ProgressStore.nowMs())
                // A new run holds no stale points: the rewinds are dealt with.
                (fresh.rewinds, fresh.rewindsApplied) = (state.rewinds, state.rewinds)
                state = fresh
            }
        }
        if info == nil {
            let key = state.runKey ?? UUID().uuidString.lowercased()
            if state.runKey == nil {
                // Recorded before the run is created: a crash in between finds the run by this tag.
                state.runKey = key
                state.experimentID = experimentID
                try await job.store.saveTrackerState(state)
            }
            if let found = try await client.run(experimentID: experimentID, runKey: key) {
                info = found
            } else {
                info = try await client.createRun(experimentID: experimentID, name: job.name, tags: [
                    .init(key: "mlflow.runName", value: job.name), .init(key: "moontune.run_key", value: key),
                    .init(key: "moontune.job", value: job.name),
                ], startTime: ProgressStore.nowMs())
            }
        }
        guard let info else { throw TrackingError("MLflow: no run") }
        state.runID = info.runID
        state.experimentID = experimentID
        try await job.store.saveTrackerState(state)
        try await client.setStatus(runID: info.runID, status: "RUNNING", endTime: nil)
        if state.rewindPending, let step = state.rewoundTo {
            // MLflow's REST API cannot remove a point: the steps trained again are logged with their
            // new (later) time, which makes them the run's latest value at their step; the tag says
            // why the history holds two points there.
            try await client.logBatch(runID: info.runID, tags: [.init(key: "moontune.rewound_to", value: "\(step)")])
        }
        run.withLock { $0 = info }
        inDoubt.withLock { $0 = true }
        return state
    }

    private func runID() throws -> String {
        guard let id = run.withLock({ $0?.runID }) else { throw TrackingError("MLflow: the run is not open") }
        return id
    }

    package func setup(_ state: TrackerState, job: TrackedJob, finetuneID: String?) async throws -> TrackerState {
        let runID = try runID()
        let params = Self.params(job.config)
        for start in stride(from: 0, to: params.count, by: Self.paramsPerCall) {
            let chunk = Array(params[start..<min(params.count, start + Self.paramsPerCall)])
            do {
                try await client.logBatch(runID: runID, params: chunk)
            } catch let error as MLflowError where error.code == "INVALID_PARAMETER_VALUE" && error.message.contains("param") {
                // A param logged by an earlier run with another value (a setting that is not part of
                // training changed): MLflow keeps params fixed, so the run keeps the first value.
            }
        }
        var tags = [MLflowClient.KeyValue(key: "moontune.job", value: job.name)]
        if let finetuneID { tags.append(.init(key: "moontune.finetune_id", value: finetuneID)) }
        tags += try await Self.sweepTags(job)
        try await client.logBatch(runID: runID, tags: tags)
        return state
    }

    /// A sweep's job (issue 25) carries the sweep's name, its place in it, its metric and the
    /// variant's params as tags, so that MLflow's own comparison groups and tells the variants apart
    /// (the params themselves are among the run's params, as the config flattened).
    static func sweepTags(_ job: TrackedJob) async throws -> [MLflowClient.KeyValue] {
        guard let member = try await job.store.sweepMembership(jobID: job.jobID) else { return [] }
        return [.init(key: "moontune.sweep", value: member.sweep), .init(key: "moontune.sweep.position", value: "\(member.position)"),
                .init(key: "moontune.sweep.metric", value: member.metric)]
            + member.params.map { .init(key: "moontune.sweep.param.\($0.key)", value: String($0.json.prefix(maxParamLength))) }
    }

    /// The config's settings flattened with dots (`train.lr`, `rank`, ...).
    static func params(_ config: JobConfig) -> [MLflowClient.KeyValue] {
        guard let root = try? JSONParser.parse(Array(config.snapshotJSON.utf8)) else { return [] }
        var out: [MLflowClient.KeyValue] = []
        func walk(_ node: JSONNode, _ prefix: String) {
            switch node.value {
            case .object(let members):
                for member in members { walk(member.node, prefix.isEmpty ? member.key : "\(prefix).\(member.key)") }
            case .null:
                break
            case .bool(let flag): out.append(.init(key: prefix, value: flag ? "true" : "false"))
            case .number(let number): out.append(.init(key: prefix, value: number.literal))
            case .string(let text): out.append(.init(key: prefix, value: String(text.prefix(maxParamLength))))
            case .array:
                out.append(.init(key: prefix, value: String(node.value.serialized().prefix(maxParamLength))))
            }
        }
        walk(root, "")
        return out.sorted { $0.key < $1.key }
    }

    package func deliver(_ batch: TrackingBatch, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        let runID = try runID()
        var metrics = batch.steps.flatMap { step in
            step.scalars.map { MLflowClient.Metric(key: $0.name, value: $0.value, timestamp: step.atMs, step: step.k) }
        } + batch.evals.flatMap { eval in
            eval.scalars.map { MLflowClient.Metric(key: $0.name, value: $0.value, timestamp: eval.atMs, step: eval.step) }
        }
        if inDoubt.withLock({ $0 }) {
            // What an earlier attempt may have delivered is not sent again: the same (step, time).
            // A step trained again after a rewind has a new time, so it is sent beside the old.
            var present: [String: Set<MLflowClient.LoggedPoint>] = [:]
            for key in Set(metrics.map(\.key)) { present[key] = try await client.loggedPoints(runID: runID, key: key) }
            metrics.removeAll { present[$0.key]?.contains(.init(step: $0.step, timestamp: $0.timestamp)) ?? false }
        }
        do {
            for start in stride(from: 0, to: metrics.count, by: Self.metricsPerCall) {
                try await client.logBatch(runID: runID, metrics: Array(metrics[start..<min(metrics.count, start + Self.metricsPerCall)]))
            }
            let tags = batch.checkpoints.map { MLflowClient.KeyValue(key: "moontune.checkpoint.\($0.step)", value: $0.model) }
            for start in stride(from: 0, to: tags.count, by: 100) {
                try await client.logBatch(runID: runID, tags: Array(tags[start..<min(tags.count, start + 100)]))
            }
        } catch {
            // Part of the batch may have landed (an earlier chunk, or a call whose answer was lost).
            inDoubt.withLock { $0 = true }
            throw error
        }
        inDoubt.withLock { $0 = false }
        return state
    }

    package func end(_ jobState: JobState, state: TrackerState, job: TrackedJob) async throws -> TrackerState {
        guard let info = run.withLock({ $0 }) else { throw TrackingError("MLflow: the run is not open") }
        let status = switch jobState {
        case .completed: "FINISHED"
        case .failed: "FAILED"
        default: "KILLED"
        }
        var state = state
        do {
            let html = try await TrackingReport.html(job: job)
            try await client.uploadArtifact(run: info, name: "report.html", contentType: "text/html; charset=utf-8", bytes: Array(html.utf8))
        } catch let error as TrackingError where !error.inDoubt {
            // No artifact store behind the server: said in `status`; the status still goes.
            state.lastError = error.description
        } catch let error as MLflowError where error.isPermanent {
            // The artifact proxy refuses the upload: said in `status`; the status still goes.
            state.lastError = error.description
        }
        try await client.setStatus(runID: info.runID, status: status, endTime: ProgressStore.nowMs())
        return state
    }

    package func close() async {
        await transport.shutdown()
    }
}
