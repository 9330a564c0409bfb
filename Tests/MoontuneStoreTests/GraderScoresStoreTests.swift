import Foundation
import Testing
@testable import MoontuneStore

/// Issue 24: the graders' mean scores per step (migration v10).
@Suite struct GraderScoresStoreTests {
    @Test func theGraderScoresMigrationComesRightAfterV9() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let applied = try await store.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        let v9 = try #require(applied.firstIndex(of: "v9: group signal and answer lengths"))
        #expect(applied.firstIndex(of: "v10: grader scores") == v9 + 1, "\(applied)")
    }

    @Test func scoresAreReadForAppliedStepsOnlyAndGoWithTheirStep() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let id = try #require(try await makeJob(store).id)
        // No intent, no scores: they belong to a step.
        await #expect(throws: (any Error).self) {
            try await store.recordGraderScores(jobID: id, k: 1, means: ["judge": 0.5])
        }
        try await store.recordStepIntent(jobID: id, k: 1, exampleIDs: "[]", now: 1)
        try await store.recordGraderScores(jobID: id, k: 1, means: ["judge": 0.5, "overlap": 0.25])
        #expect(try await store.graderScores(jobID: id).isEmpty, "an intent's scores are not a step's yet")
        try await store.markStepApplied(jobID: id, k: 1, metrics: StepMetrics(), reconciled: false, now: 2)
        #expect(try await store.graderScores(jobID: id) == [1: ["judge": 0.5, "overlap": 0.25]])
        #expect(try await store.graderNames(jobID: id) == ["judge", "overlap"])

        // A second gather of step 2 replaces the first's scores; a discarded intent takes them along.
        try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 3)
        try await store.recordGraderScores(jobID: id, k: 2, means: ["judge": 0.1, "overlap": 0.1])
        try await store.discardStepIntent(jobID: id, k: 2)
        let left = try await store.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM step_grader_scores WHERE k = 2") }
        #expect(left == 0)
        try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: "[]", now: 4)
        try await store.recordGraderScores(jobID: id, k: 2, means: ["judge": 0.9, "overlap": 0.7])
        try await store.markStepApplied(jobID: id, k: 2, metrics: StepMetrics(), reconciled: false, now: 5)
        #expect(try await store.graderScores(jobID: id, steps: 2...2) == [2: ["judge": 0.9, "overlap": 0.7]])
        // A rewind forgets them with the steps.
        _ = try await store.rewindSteps(jobID: id, after: 1)
        #expect(try await store.graderScores(jobID: id).keys.sorted() == [1])
    }
}
