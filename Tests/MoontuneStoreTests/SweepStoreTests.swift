import Foundation
import Testing
@testable import MoontuneStore

/// Sweeps in the store (issue 25, migration v15): submitted whole or not at all, the same sweep
/// again changes nothing, and a pruning decision is taken once, with its figures.
@Suite struct SweepStoreTests {
    func makeStore() throws -> ProgressStore {
        try ProgressStore(path: try temporaryDirectory().appendingPathComponent("sweeps.sqlite").path)
    }

    func jobs(_ names: [String]) -> [(record: JobRecord, paramsJSON: String)] {
        names.enumerated().map { index, name in
            (record: JobRecord(name: name, configPath: "/base.json", configJSON: "{}", fingerprintJSON: "{}", baseURL: "http://127.0.0.1/v1",
                       apiKeyEnv: "K", totalSteps: 10, now: 1),
             paramsJSON: "[[\"train.lr\",\(index + 1)]]")
        }
    }

    func sweep(digest: String = "d1", prune: PruneRule? = PruneRule(rungs: [2, 4], keep: 0.5)) -> SweepRecord {
        SweepRecord(name: "s", digest: digest, fileText: "{}", filePath: "/s.json", metric: "eval/reward_mean", prune: prune, createdAtMs: 1)
    }

    /// The rule the loop uses, written out for the store's test: the better half goes on.
    static let decide: @Sendable (PruneCohort, PruneRule) -> PruneVerdict = { cohort, rule in
        let n = cohort.siblings.count + 1
        let rank = 1 + cohort.siblings.filter { $0.value > (cohort.value ?? 0) }.count
        let kept = max(1, Int(Double(n) * rule.keep))
        return PruneVerdict(goesOn: n < 2 || rank <= kept, rank: rank, cohort: n, kept: kept)
    }

    @Test func theSameSweepAgainChangesNothingAndAnotherUnderItsNameIsRefused() async throws {
        let store = try makeStore()
        #expect(try await store.submitSweep(sweep(), jobs: jobs(["s-1", "s-2"]), priority: 3, now: 5) == .submitted)
        #expect(try await store.submitSweep(sweep(), jobs: jobs(["s-1", "s-2"]), priority: 3, now: 6) == .unchanged)
        #expect(try await store.submitSweep(sweep(digest: "d2"), jobs: jobs(["s-1", "s-2", "s-3"]), priority: 3, now: 7) == .conflict)
        #expect(try await store.allJobs().map(\.name) == ["s-1", "s-2"])
        #expect(try await store.allJobs().allSatisfy { $0.state == .queued })
        let first = try #require(try await store.job(named: "s-1"))
        let membership = try #require(try await store.sweepMembership(jobID: first.id ?? 0))
        #expect(membership.sweep == "s")
        #expect(membership.position == 1)
        #expect(membership.params.map(\.key) == ["train.lr"])
        #expect(membership.prune == PruneRule(rungs: [2, 4], keep: 0.5))
    }

    @Test func aSweepWhoseJobNameIsTakenRecordsNothing() async throws {
        let store = try makeStore()
        _ = try await store.createJob(jobs(["s-2"])[0].record)
        #expect(try await store.submitSweep(sweep(), jobs: jobs(["s-1", "s-2"]), priority: 0, now: 5) == .jobNameTaken("s-2"))
        #expect(try await store.sweep(named: "s") == nil)
        #expect(try await store.allJobs().map(\.name) == ["s-2"])
    }

    @Test func aDecisionIsTakenOnceWithTheRungsFiguresAndReleasedByAResubmission() async throws {
        let store = try makeStore()
        _ = try await store.submitSweep(sweep(), jobs: jobs(["s-1", "s-2", "s-3"]), priority: 0, now: 5)
        let ids = try await store.allJobs().map { $0.id ?? 0 }
        func eval(_ job: Int64, _ step: Int, _ value: Double) async throws {
            try await store.recordEval(EvalRecord(jobID: job, step: step, rewardMean: value, count: 4, perSkillJSON: "{}", atMs: 9))
        }
        try await eval(ids[0], 2, 0.8)
        let alone = try #require(try await store.decidePruning(jobID: ids[0], rung: 2, now: 10, decide: Self.decide))
        #expect(alone.goesOn && alone.cohort == 1)
        try await eval(ids[1], 2, 0.3)
        let worse = try #require(try await store.decidePruning(jobID: ids[1], rung: 2, now: 11, decide: Self.decide))
        #expect(!worse.goesOn && worse.rank == 2 && worse.cohort == 2 && worse.kept == 1 && worse.value == 0.3)
        #expect(worse.figuresJSON.contains("s-1") && worse.figuresJSON.contains("0.8"))
        // Taken once: a later sibling does not change it.
        try await eval(ids[2], 2, 0.1)
        let again = try #require(try await store.decidePruning(jobID: ids[1], rung: 2, now: 12, decide: Self.decide))
        #expect(again == worse)
        // Not a rung, or no eval there: no decision.
        #expect(try await store.decidePruning(jobID: ids[0], rung: 3, now: 12, decide: Self.decide) == nil)
        #expect(try await store.decidePruning(jobID: ids[0], rung: 4, now: 12, decide: Self.decide) == nil)
        // Released by a resubmission: no further decisions for it.
        #expect(try await store.releasePruning(jobID: ids[1], now: 13))
        #expect(try await store.pruneDecisions(jobID: ids[1]).allSatisfy { $0.goesOn || $0.releasedAtMs == 13 })
        try await eval(ids[1], 4, 0.0)
        #expect(try await store.decidePruning(jobID: ids[1], rung: 4, now: 14, decide: Self.decide) == nil)
        #expect(try await !store.releasePruning(jobID: ids[0], now: 15))
    }

    @Test func theMetricIsReadFromTheEvalsPerSkillSummary() {
        let eval = EvalRecord(jobID: 1, step: 2, rewardMean: 0.4, count: 3, perSkillJSON: #"{"point":{"mean":0.5,"f1":0.25}}"#, atMs: 1)
        #expect(SweepMetric("eval/reward_mean")?.value(in: eval) == 0.4)
        #expect(SweepMetric("eval/point/f1")?.value(in: eval) == 0.25)
        #expect(SweepMetric("eval/query/accuracy")?.value(in: eval) == nil)
        #expect(SweepMetric("eval/cat/f1") == nil)
        #expect(SweepMetric("train/reward_mean") == nil)
    }
}
