import Foundation
import GRDB
import Testing
@testable import MoontuneStore

/// Migration v17 (issue 24): each eval's grader means, recorded with the eval; a database from
/// before it is still read (`status` opens it read-only, without migrating).
@Suite struct EvalGraderMeansStoreTests {
    @Test func anEvalKeepsItsGraderMeansAndAnOlderDatabaseIsReadWithout() async throws {
        let path = try temporaryDirectory().appendingPathComponent("s.sqlite").path
        do {
            let store = try ProgressStore(path: path)
            let id = try #require(try await makeJob(store).id)
            try await store.recordEval(EvalRecord(jobID: id, step: 0, rewardMean: 0.5, count: 2, perSkillJSON: "{}", atMs: 1,
                                                  graderMeans: ["judge": 0.75, "match": 1, "broken": .nan]), examples: [])
            try await store.recordEval(EvalRecord(jobID: id, step: 2, rewardMean: 0.6, count: 2, perSkillJSON: "{}", atMs: 2), examples: [])
            let evals = try await store.evals(jobID: id)
            #expect(evals.map(\.graderMeans) == [["judge": 0.75, "match": 1], [:]], "a non-finite mean is left out")
            #expect(evals[1].graderMeansJSON == nil)
            // The database as v16 left it: no column, no v17 in the migrations.
            try await store.write { db in
                try db.execute(sql: "ALTER TABLE evals DROP COLUMN grader_means_json")
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v17%'")
            }
        }
        do {
            let reader = try ProgressStore(path: path, readOnly: true)
            let id = try #require(try await reader.job(named: "job-a")?.id)
            let evals = try await reader.evals(jobID: id)
            #expect(evals.map(\.step) == [0, 2])
            #expect(evals.allSatisfy { $0.graderMeans.isEmpty })
        }
        // Opened for writing, it is migrated again.
        let store = try ProgressStore(path: path)
        let id = try #require(try await store.job(named: "job-a")?.id)
        try await store.recordEval(EvalRecord(jobID: id, step: 4, rewardMean: 0.7, count: 2, perSkillJSON: "{}", atMs: 3,
                                              graderMeans: ["judge": 0.5]), examples: [])
        #expect(try await store.evals(jobID: id).last?.graderMeans == ["judge": 0.5])
    }
}
