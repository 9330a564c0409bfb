import Foundation
import GRDB
import Testing
@testable import MoontuneStore

/// v8: eval examples, written with their eval in one transaction, gone with it.
@Suite struct EvalExamplesStoreTests {
    func example(_ id: String, position: Int, skill: String = "point", reward: Double = 0.5) -> EvalExampleRecord {
        EvalExampleRecord(jobID: 0, step: 0, exampleID: id, position: position, line: position + 1, skill: skill, reward: reward,
                          predictionJSON: #"{"points":[{"x":0.5,"y":0.5}]}"#, imagePath: "/data/\(id).png",
                          truthJSON: #"{"object":"dot","points":[{"x":0.5,"y":0.25}]}"#)
    }

    func eval(_ jobID: Int64, step: Int, n: Int) -> EvalRecord {
        EvalRecord(jobID: jobID, step: step, rewardMean: 0.5, count: n, perSkillJSON: "{}", atMs: 1)
    }

    @Test func anEvalIsRecordedWithItsExamplesAndReadBackInEvalSetOrder() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let job = try await makeJob(store)
        let jobID = try #require(job.id)
        try await store.recordEval(eval(jobID, step: 0, n: 3), examples: [example("b", position: 1), example("a", position: 0),
                                                                          example("c", position: 2, reward: 1)])
        let rows = try await store.evalExamples(jobID: jobID, step: 0)
        #expect(rows.map(\.exampleID) == ["a", "b", "c"])
        #expect(rows.allSatisfy { $0.jobID == jobID && $0.step == 0 }, "the rows take the eval's job and step")
        #expect(rows.last?.reward == 1)
        #expect(try await store.evalExampleCounts(jobID: jobID) == [0: 3])
        // Recording the same eval again replaces its rows.
        try await store.recordEval(eval(jobID, step: 0, n: 1), examples: [example("z", position: 0)])
        #expect(try await store.evalExamples(jobID: jobID, step: 0).map(\.exampleID) == ["z"])
    }

    @Test func aFailingExampleRowLeavesNeitherTheEvalNorAnyOfItsRows() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let jobID = try #require(try await makeJob(store).id)
        // The third row breaks the table's CHECK on skill, after the eval and two rows were written.
        await #expect(throws: (any Error).self) {
            try await store.recordEval(eval(jobID, step: 4, n: 3), examples: [example("a", position: 0), example("b", position: 1),
                                                                              example("c", position: 2, skill: "caption")])
        }
        #expect(try await store.evals(jobID: jobID).isEmpty, "the eval is recorded whole or not at all")
        #expect(try await store.evalExamples(jobID: jobID, step: 4).isEmpty)
    }

    @Test func aRewindDeletesTheLaterEvalsExamplesAndKeepsTheEarlierOnes() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let jobID = try #require(try await makeJob(store).id)
        for step in [0, 2, 4] {
            try await store.recordEval(eval(jobID, step: step, n: 2), examples: [example("a", position: 0), example("b", position: 1)])
        }
        _ = try await store.rewindSteps(jobID: jobID, after: 2)
        #expect(try await store.evals(jobID: jobID).map(\.step) == [0, 2])
        #expect(try await store.evalExampleCounts(jobID: jobID) == [0: 2, 2: 2])
    }

    /// A database at v7 with one job and one eval, as a v7 build wrote it.
    func makeV7Database() throws -> String {
        let path = try temporaryDirectory().appendingPathComponent("v7.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA application_id = \(ProgressStore.applicationID)") }
        try ProgressStore.migrator.migrate(queue, upTo: "v7: running time")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO jobs (id, name, config_path, config_json, fingerprint_json, base_url, api_key_env, total_steps, state,
                                  created_at_ms, updated_at_ms)
                VALUES (3, 'old', '/c.json', '{}', '{}', 'http://127.0.0.1/v1', 'K', 10, 'stopped', 1, 2);
                INSERT INTO evals (job_id, step, reward_mean, n, per_skill_json, at_ms) VALUES (3, 0, 0.4, 6, '{"point":{"mean":0.4}}', 15);
                """)
        }
        try queue.close()
        return path
    }

    @Test func aV7DatabaseOpensAndGainsTheEvalExamplesTable() async throws {
        let path = try makeV7Database()
        let store = try ProgressStore(path: path)
        #expect(try await store.evals(jobID: 3).map(\.step) == [0], "the old eval is kept")
        #expect(try await store.evalExamples(jobID: 3, step: 0).isEmpty, "an old eval has no example rows")
        let applied = try await store.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        #expect(applied.contains("v8: eval examples"))
        try await store.recordEval(eval(3, step: 2, n: 1), examples: [example("a", position: 0)])
        #expect(try await store.evalExampleCounts(jobID: 3) == [2: 1])
    }

    @Test func theLRSeriesHasEachAppliedStepsLR() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let jobID = try #require(try await makeJob(store).id)
        try await store.write { db in
            try db.execute(sql: """
                INSERT INTO steps (job_id, k, state, example_ids, intent_at_ms, applied_at_ms, lr)
                VALUES (?, 1, 'applied', '1', 1, 2, 0.001), (?, 2, 'applied', '2', 3, 4, 0.002), (?, 3, 'intent', '3', 5, NULL, 0.003),
                       (?, 4, 'applied', '4', 6, 7, NULL)
                """, arguments: [jobID, jobID, jobID, jobID])
        }
        let series = try await store.lrSeries(jobID: jobID)
        #expect(series.map(\.step) == [1, 2])
        #expect(series.map(\.lr) == [0.001, 0.002])
    }
}
