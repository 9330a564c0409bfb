import Foundation
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

/// `sweep status` and `sweep report` from a store (issue 25): the contract's JSON shape, the
/// ranking (no value last), the best checkpoint's model string, and what pruning saved.
@Suite struct SweepStatusReportTests {
    static let config = #"{"train":{"steps":10,"groups_per_step":2,"rollouts_per_group":3},"eval":{"every_steps":5,"max_examples":4}}"#

    func makeSweep() async throws -> (ProgressStore, SweepRecord) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-status-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try ProgressStore(path: folder.appendingPathComponent("db.sqlite").path)
        let jobs = (1...3).map { index in
            (record: JobRecord(name: "s-\(index)", configPath: "/base.json", configJSON: Self.config, fingerprintJSON: "{}",
                               baseURL: "http://127.0.0.1/v1", apiKeyEnv: "K", totalSteps: 10, now: 1),
             paramsJSON: "[[\"train.lr\",0.00\(index)],[\"rank\",8]]")
        }
        let sweep = SweepRecord(name: "s", digest: "d", fileText: "{}", filePath: "/s.json", metric: "eval/point/f1",
                                prune: PruneRule(rungs: [5], keep: 0.5), createdAtMs: 1)
        #expect(try await store.submitSweep(sweep, jobs: jobs, priority: 0, now: 2) == .submitted)
        let ids = try await store.allJobs().map { $0.id ?? 0 }
        func eval(_ job: Int, _ step: Int, _ f1: Double) async throws {
            try await store.recordEval(EvalRecord(jobID: ids[job], step: step, rewardMean: 1 - f1, count: 4,
                                                  perSkillJSON: #"{"point":{"mean":0.1,"f1":\#(f1)}}"#, atMs: 3))
        }
        for (index, id) in ids.enumerated() { try await store.setFinetuneID(jobID: id, finetuneID: "FT\(index + 1)", now: 3) }
        // s-1: f1 0.2 at 5, 0.6 at 10 (checkpoints at both); s-2: 0.4 at 5, pruned there; s-3: only the baseline.
        try await eval(0, 0, 0.9)
        try await eval(0, 5, 0.2)
        try await eval(0, 10, 0.6)
        try await eval(1, 5, 0.4)
        try await eval(2, 0, 0.9)
        for step in [5, 10] { try await store.recordCheckpoint(jobID: ids[0], step: step, checkpointID: "c\(step)", kind: .cadence, now: 4) }
        try await store.recordCheckpoint(jobID: ids[1], step: 5, checkpointID: "c5", kind: .cadence, now: 4)
        try await store.finish(jobID: ids[1], state: .stopped, error: nil, stopReason: "pruned", now: 5)
        _ = try await store.decidePruning(jobID: ids[1], rung: 5, now: 5) { _, _ in PruneVerdict(goesOn: false, rank: 2, cohort: 2, kept: 1) }
        return (store, try #require(try await store.sweep(named: "s")))
    }

    @Test func theStatusDocumentRanksByTheMetricWithTheBestCheckpointsModel() async throws {
        let (store, sweep) = try await makeSweep()
        let report = try await SweepStatusReport.load(sweep, store: store)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        #expect(document["sweep"] as? String == "s" && document["metric"] as? String == "eval/point/f1")
        let jobs = try #require(document["jobs"] as? [[String: Any]])
        // s-1's best is 0.6 (the baseline's 0.9 at step 0 does not count), s-2's 0.4, s-3 has none.
        #expect(jobs.map { $0["name"] as? String } == ["s-1", "s-2", "s-3"])
        #expect(document["best"] as? String == "s-1")
        for job in jobs {
            #expect(Set(job.keys).isSuperset(of: ["name", "params", "state", "step", "stop_reason", "best", "model"]))
        }
        #expect((jobs[0]["best"] as? [String: Any])?["step"] as? Int == 10)
        #expect(jobs[0]["model"] as? String == "moondream3-preview/FT1@10")
        #expect((jobs[0]["params"] as? [String: Any])?["train.lr"] as? Double == 0.001)
        #expect((jobs[0]["params"] as? [String: Any])?["rank"] as? Int == 8)
        #expect(jobs[1]["stop_reason"] as? String == "pruned" && jobs[1]["state"] as? String == "stopped")
        #expect(jobs[1]["model"] as? String == "moondream3-preview/FT2@5")
        #expect(jobs[2]["best"] is NSNull && jobs[2]["model"] is NSNull)
        // s-2, pruned at step 0 of 10 applied: 10 steps × 2 groups × 3 rollouts, and the evals at 5 and 10 of 4 examples.
        #expect(document["rollouts_saved_by_pruning"] as? Int == 10 * 6 + 2 * 4)
        #expect(document["rollouts_spent"] as? Int == 5 * 4)
        let text = report.text()
        #expect(text.contains("s-1") && text.contains("stopped (pruned)") && text.contains("best: s-1"))
    }

    @Test func theReportPageHasEveryVariantTheRankingAndTheWinnersModel() async throws {
        let (store, sweep) = try await makeSweep()
        let report = try await SweepStatusReport.load(sweep, store: store)
        let html = SweepReportHTML.render(report, gallery: nil, generatedAtMs: 0)
        #expect(html.contains("<svg") && !html.contains("<script"))
        #expect(html.contains("moondream3-preview/FT1@10"))
        #expect(html.contains("s-2 ✂5"), "a pruned variant is marked in the chart")
        let rows = html.components(separatedBy: "data-job=\"").dropFirst().map { $0.prefix(3) }
        #expect(rows == ["s-1", "s-2", "s-3"])
    }
}
