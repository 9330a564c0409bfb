import Foundation
import MoondreamAPI
import MoontuneStore

/// A sweep as `sweep status` and `sweep report` show it (issue 25), from the store alone: each
/// variant's params, state, step, best metric and its step, and the model string of its best
/// checkpoint, ranked best first; what the sweep spent (rollouts) and what pruning saved.
package struct SweepStatusReport: Sendable {
    package struct Job: Sendable {
        package var name: String
        package var position: Int
        /// (key, the value's JSON text), in the sweep's key order.
        package var params: [(key: String, json: String)]
        package var state: String
        package var step: Int
        package var totalSteps: Int
        package var stopReason: String?
        /// The best metric over the evals after step 0 (the baseline is every variant's), and its step.
        package var best: (step: Int, value: Double)?
        /// The model string of the best checkpoint: the live one at the best step, else the live
        /// checkpoint with the best metric; nil when none has an eval.
        package var model: String?
        /// The metric at each eval, by step (step 0, the baseline, included).
        package var series: [(step: Int, value: Double)]
        package var decisions: [PruneDecisionRecord]
        package var rolloutsSpent: Int
        /// For a pruned job: the rollouts its remaining steps and evals would have generated.
        package var rolloutsSaved: Int
        /// The rung at which the job was pruned (and not released), or nil.
        package var prunedAt: Int? { stopReason == "pruned" ? decisions.last(where: { !$0.goesOn })?.rung : nil }
    }

    package var sweep: String
    package var metric: String
    package var prune: PruneRule?
    /// Ranked by best value, highest first; jobs without a value last, in grid order.
    package var jobs: [Job]
    package var rolloutsSpent: Int { jobs.reduce(0) { $0 + $1.rolloutsSpent } }
    package var rolloutsSaved: Int { jobs.reduce(0) { $0 + $1.rolloutsSaved } }
    package var best: Job? { jobs.first { $0.best != nil } }

    /// The state is shown as `status` shows it (a `running` job whose runner died is `interrupted`).
    package static func load(_ sweep: SweepRecord, store: ProgressStore, now: Int64 = ProgressStore.nowMs()) async throws -> SweepStatusReport {
        let metric = SweepMetric(sweep.metric) ?? .rewardMean
        var jobs: [Job] = []
        for member in try await store.sweepMembers(sweepID: sweep.id ?? 0) {
            guard let record = try await store.job(id: member.jobID) else { continue }
            let evals = try await store.evals(jobID: member.jobID)
            let checkpoints = try await store.checkpoints(jobID: member.jobID)
            let applied = try await store.lastAppliedStep(jobID: member.jobID)
            let shape = ConfigShape(record.configJSON)
            let extra = try await store.extraGroupsTried(jobID: member.jobID, groupsPerStep: shape.groups)
            var job = Job(name: record.name, position: member.position, params: member.params,
                          state: JobLiveness.displayedState(record, databasePath: store.path, now: now), step: applied,
                          totalSteps: record.totalSteps, stopReason: record.stopReason, best: nil, model: nil,
                          series: evals.compactMap { eval in metric.value(in: eval).map { (step: eval.step, value: $0) } },
                          decisions: try await store.pruneDecisions(jobID: member.jobID),
                          rolloutsSpent: shape.rollouts(throughStep: applied) + extra * shape.rolloutsPerGroup + evals.reduce(0) { $0 + $1.count },
                          rolloutsSaved: 0)
            job.best = job.series.filter { $0.step >= 1 }.max { $0.value < $1.value || ($0.value == $1.value && $0.step > $1.step) }
            let live = checkpoints.filter { $0.deletedAtMs == nil }
            let values = Dictionary(job.series.map { ($0.step, $0.value) }, uniquingKeysWith: { $1 })
            let chosen = job.best.flatMap { best in live.first { $0.step == best.step } }
                ?? live.filter { values[$0.step] != nil }.max { values[$0.step]! < values[$1.step]! }
            if let chosen, let finetune = record.finetuneID { job.model = inferenceModel(finetuneID: finetune, step: chosen.stepOnServer) }
            if job.prunedAt != nil {
                job.rolloutsSaved = shape.rollouts(throughStep: record.totalSteps) - shape.rollouts(throughStep: applied)
                    + shape.evalsAfter(applied, total: record.totalSteps) * (evals.last?.count ?? shape.evalExamples)
            }
            jobs.append(job)
        }
        jobs.sort { lhs, rhs in
            switch (lhs.best?.value, rhs.best?.value) {
            case let (l?, r?) where l != r: l > r
            case (_?, nil): true
            case (nil, _?): false
            default: lhs.position < rhs.position
            }
        }
        return SweepStatusReport(sweep: sweep.name, metric: sweep.metric, prune: sweep.prune, jobs: jobs)
    }

    /// `sweep status --json`: `{"sweep", "metric", "best", "jobs": [{"name", "params", "state", "step",
    /// "stop_reason", "best": {"step", "value"}, "model"}]}`, with what was spent and saved beside.
    package func json() -> String {
        let document: [String: Any] = [
            "sweep": sweep,
            "metric": metric,
            // As the contract says: the first job's name (the best, once any has a value).
            "best": jobs.first.map { $0.name as Any } ?? NSNull(),
            "prune": prune.map { ["type": "asha", "rungs": $0.rungs, "keep": $0.keep] as [String: Any] } ?? NSNull(),
            "rollouts_spent": rolloutsSpent,
            "rollouts_saved_by_pruning": rolloutsSaved,
            "jobs": jobs.map { job -> [String: Any] in
                var params: [String: Any] = [:]
                for (key, json) in job.params {
                    params[key] = (try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])) ?? NSNull()
                }
                return [
                    "name": job.name, "params": params, "state": job.state, "step": job.step, "total_steps": job.totalSteps,
                    "stop_reason": job.stopReason as Any? ?? NSNull(),
                    "best": job.best.map { ["step": $0.step, "value": $0.value] as [String: Any] } ?? NSNull(),
                    "model": job.model as Any? ?? NSNull(),
                    "pruned_at": job.prunedAt as Any? ?? NSNull(),
                    "rollouts": job.rolloutsSpent,
                    "decisions": job.decisions.map { decision -> [String: Any] in
                        ["rung": decision.rung, "goes_on": decision.goesOn, "value": decision.value as Any? ?? NSNull(),
                         "rank": decision.rank, "cohort": decision.cohort, "kept": decision.kept,
                         "released": decision.releasedAtMs != nil]
                    },
                ]
            },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The human table.
    package func text() -> String {
        var lines = ["sweep \(sweep) · metric \(metric)" + (prune.map { " · ASHA at steps \($0.rungs.map(String.init).joined(separator: ", ")), keep \($0.keep)" } ?? "")]
        let rows = jobs.enumerated().map { index, job -> [String] in
            [String(index + 1), job.name, job.params.map { "\($0.key)=\($0.json)" }.joined(separator: " "),
             job.state + (job.stopReason.map { " (\($0))" } ?? ""), "\(job.step)/\(job.totalSteps)",
             job.best.map { String(format: "%.4f @%d", $0.value, $0.step) } ?? "-", job.model ?? "-"]
        }
        lines.append(PlainTable.render([["#", "job", "params", "state", "step", "best", "model"]] + rows))
        lines.append("best: \(best?.name ?? "none yet")" + (best?.model.map { " · model \($0)" } ?? ""))
        lines.append("spent \(rolloutsSpent) rollouts; pruning saved about \(rolloutsSaved)")
        return lines.joined(separator: "\n")
    }
}

/// The few settings of a recorded config snapshot the sweep's figures need.
struct ConfigShape {
    var groups = 0
    var rolloutsPerGroup = 0
    var sftSteps = 0
    var evalEvery: Int?
    var evalExamples = 0

    init(_ configJSON: String) {
        guard let config = try? JSONSerialization.jsonObject(with: Data(configJSON.utf8)) as? [String: Any] else { return }
        let train = config["train"] as? [String: Any] ?? [:]
        groups = (train["groups_per_step"] as? NSNumber)?.intValue ?? 0
        rolloutsPerGroup = (train["rollouts_per_group"] as? NSNumber)?.intValue ?? 0
        sftSteps = (train["sft_steps"] as? NSNumber)?.intValue ?? 0
        if let eval = config["eval"] as? [String: Any] {
            evalEvery = (eval["every_steps"] as? NSNumber)?.intValue
            evalExamples = (eval["max_examples"] as? NSNumber)?.intValue ?? 0
        }
    }

    /// Rollouts of steps 1...k (SFT steps generate none).
    func rollouts(throughStep k: Int) -> Int { max(0, k - min(k, sftSteps)) * groups * rolloutsPerGroup }

    /// Evals due after step `step` up to `total` (every `eval.every_steps`, and the last step).
    func evalsAfter(_ step: Int, total: Int) -> Int {
        guard let every = evalEvery, every > 0, step < total else { return 0 }
        return (step + 1...total).filter { $0 % every == 0 || $0 == total }.count
    }
}
