import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneLoop
@testable import MoontuneStore

/// Every eval example's outcome is recorded with its eval, in the same write: whole or not at all.
@Suite struct EvalExamplesTests {
    @Test func everyEvalRecordsEachExampleWithItsPredictionAndTruth() async throws {
        let job = try LoopHarness(steps: 2, eval: 5, evalEvery: 2)
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        let examples = await job.store.evalExampleRecords
        #expect(examples.keys.sorted() == [0, 2], "a baseline eval and one at the end")
        for (step, rows) in examples {
            #expect(rows.map(\.exampleID) == ["e0", "e1", "e2", "e3", "e4"], "one row per eval example, in eval-set order")
            #expect(rows.map(\.position) == [0, 1, 2, 3, 4])
            #expect(rows.allSatisfy { $0.step == step && $0.jobID == 1 && $0.skill == "point" && $0.reward == 0.5 })
            let first = try #require(rows.first)
            #expect(ExamplePrediction(json: first.predictionJSON) == ExamplePrediction(points: [Point(x: 0.5, y: 0.5)]))
            let truth = try #require(ExampleTruth(json: first.truthJSON))
            #expect(truth.points == [Point(x: 0.5, y: 0.25)])
            #expect(truth.object == "the dot")
            #expect(first.imagePath?.hasSuffix("/img.png") == true && FileManager.default.fileExists(atPath: first.imagePath ?? ""))
            #expect(first.line == 1)
        }
    }

    @Test func theEvalSummaryCarriesEachSkillsMetricsBesideItsRewards() async throws {
        let job = try LoopHarness(steps: 2, eval: 4, evalEvery: 2)
        defer { job.remove() }
        #expect(await job.run().state == .completed)
        let eval = try #require(await job.store.evalRecords[2])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(eval.perSkillJSON.utf8)) as? [String: [String: Any]])
        let point = try #require(object["point"])
        #expect(point["mean"] as? Double == 0.5 && point["count"] as? Int == 4, "the reward figures stay as they were")
        // Every prediction is (0.5, 0.5), the truth (0.5, 0.25): 0.25 away, beyond the 0.1 hit radius.
        #expect(abs((point["mean_distance"] as? Double ?? 0) - 0.25) < 1e-12)
        #expect(point["hit_rate"] as? Double == 0)
        #expect(point["predicted_points"] as? Int == 4)
        #expect(point["accuracy"] == nil, "only the skill's own metrics")
        // And it decodes back, flat, as `EvalSkillSummary`.
        let decoded = try JSONDecoder().decode([String: EvalSkillSummary].self, from: Data(eval.perSkillJSON.utf8))
        #expect(decoded["point"]?.mean == 0.5 && decoded["point"]?.metrics.hitRate == 0)
    }

    @Test func aCrashAtTheEvalsWriteLeavesNeitherTheEvalNorItsExamplesAndTheNextRunRedoesIt() async throws {
        let job = try LoopHarness(steps: 2, eval: 3, evalEvery: 2)
        defer { job.remove() }
        await job.store.crash(onWrite: { $0 == "recordEval" })
        let first = await job.run()
        #expect(first.state != .completed)
        #expect(await job.store.evalRecords.isEmpty)
        #expect(await job.store.evalExampleRecords.isEmpty, "no example rows without their eval")
        #expect(await job.run().state == .completed)
        #expect(await job.isExact())
        #expect(await job.store.evalRecords.keys.sorted() == [0, 2])
        let examples = await job.store.evalExampleRecords
        #expect(examples.keys.sorted() == [0, 2])
        #expect(examples.values.allSatisfy { $0.count == 3 }, "the redone eval is recorded whole")
    }
}
