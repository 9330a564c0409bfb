import Foundation
import GRDB
import Testing
@testable import MoontuneStore

/// Migration v9 and the records of `train.skip_constant_groups` and the rollouts' answers.
@Suite struct GroupSignalStoreTests {
    /// A database at v7 with one job, a step and a checkpoint, as a v7 build wrote them.
    func makeV7Database() throws -> String {
        let path = try temporaryDirectory().appendingPathComponent("v7.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA application_id = \(ProgressStore.applicationID)")
        }
        try ProgressStore.migrator.migrate(queue, upTo: "v7: running time")
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO jobs (id, name, config_path, config_json, fingerprint_json, base_url, api_key_env, total_steps, state,
                                  created_at_ms, updated_at_ms)
                VALUES (3, 'old', '/c.json', '{}', '{}', 'http://127.0.0.1/v1', 'K', 10, 'stopped', 1, 2);
                INSERT INTO steps (job_id, k, state, example_ids, intent_at_ms, applied_at_ms, reward_mean, retries, mode, lr)
                VALUES (3, 1, 'applied', '["a"]', 10, 11, 0.5, 1, 'rl', 0.002);
                INSERT INTO checkpoints (job_id, step, checkpoint_id, kind, saved_at_ms) VALUES (3, 1, 'ck-1', 'final', 14);
                """)
        }
        try queue.close()
        return path
    }

    @Test func aV7DatabaseOpensAndItsStepsReadWithoutTheNewFigures() async throws {
        let store = try ProgressStore(path: try makeV7Database())
        let step = try #require(try await store.step(jobID: 3, k: 1))
        #expect(step.rewardMean == 0.5 && step.retries == 1 && step.lr == 0.002)
        #expect(!step.skipped && step.groupsTried == nil && step.truncationRate == nil && step.answerLengthMean == nil)
        #expect(try await store.checkpoints(jobID: 3).first?.stepOnServer == 1)
        #expect(try await store.groupSignalTotals(jobID: 3) == nil)
        #expect(try await store.skippedSteps(jobID: 3).isEmpty)
        #expect(try await store.integrityCheck() == "ok")
    }

    @Test func aSkippedStepIsOneWriteInOrderAndCountsInTheTotals() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let job = try await makeJob(store)
        let id = try #require(job.id)
        var skipped = StepFigures(rewardMean: 0.25, constantGroupFraction: 1)
        (skipped.groupsTried, skipped.groupsKept, skipped.groupsDropped) = (8, 0, 8)
        await #expect(throws: StoreError.self) {
            try await store.recordSkippedStep(jobID: id, k: 2, exampleIDs: "[]", figures: skipped, now: 1)
        }
        try await store.recordSkippedStep(jobID: id, k: 1, exampleIDs: #"["a","b"]"#, figures: skipped, now: 1)
        #expect(try await store.lastAppliedStep(jobID: id) == 1)
        #expect(try await store.skippedSteps(jobID: id) == [1])
        var groups = StepFigures()
        (groups.groupsTried, groups.groupsKept, groups.groupsDropped) = (4, 1, 3)
        try await store.recordStepIntent(jobID: id, k: 2, exampleIDs: #"["c"]"#, groups: groups, now: 2)
        await #expect(throws: StoreError.self) {
            try await store.recordSkippedStep(jobID: id, k: 3, exampleIDs: "[]", figures: skipped, now: 3)
        }
        // Reconciled by a later run, without figures: the intent's groups stay.
        try await store.markStepApplied(jobID: id, k: 2, metrics: StepMetrics(), reconciled: true, now: 3)
        let step = try #require(try await store.step(jobID: id, k: 2))
        #expect(step.groupsTried == 4 && step.groupsKept == 1 && step.groupsDropped == 3 && !step.skipped)
        let first = try #require(try await store.step(jobID: id, k: 1))
        #expect(first.skipped && first.state == .applied && first.rewardMean == 0.25 && first.groupsDropped == 8)
        let totals = try #require(try await store.groupSignalTotals(jobID: id))
        #expect(totals == GroupSignalTotals(skippedSteps: 1, groupsTried: 12, groupsKept: 1, groupsDropped: 11, steps: 2))
        #expect(totals.extraGroupsTried(groupsPerStep: 4) == 4)
        #expect(try await store.extraGroupsTried(jobID: id, groupsPerStep: 4) == 4)
        #expect(totals.line == "1 step skipped (no group with signal), 11 of 12 groups dropped for equal rewards (92%)")
        try await store.recordCheckpoint(jobID: id, step: 2, checkpointID: "ck", kind: .final, serverStep: 1, now: 4)
        #expect(try await store.checkpoints(jobID: id).first?.stepOnServer == 1)
    }
}
