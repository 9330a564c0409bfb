import Testing
@testable import MoontuneCLI
@testable import MoontuneStore

@Suite struct CheckpointChoiceTests {
    func record(_ step: Int, server: Int? = nil) -> CheckpointRecord {
        CheckpointRecord(jobID: 1, step: step, checkpointID: "ck-\(step)", kind: .cadence, savedAtMs: 0, serverStep: server)
    }

    @Test func theBestCheckpointMatchesEvalsToTheServersStepsAfterSkippedSteps() throws {
        // Step 2 was skipped: the record's steps 2 and 4 are the server's 1 and 3.
        let records = [record(1), record(2, server: 1), record(4, server: 3)]
        let evals: [Int: Double] = [1: 0.4, 2: 0.45, 4: 0.9]
        #expect(try CheckpointChoice.best.resolve(job: "j", serverSteps: [1, 3], record: records, evals: evals) == 3)
        #expect(try CheckpointChoice.best.resolve(job: "j", serverSteps: [1], record: records, evals: evals) == 1)
        // Without skipped steps the numbers are the same.
        #expect(try CheckpointChoice.best.resolve(job: "j", serverSteps: [1, 4], record: [record(1), record(4)],
                                                  evals: [1: 0.9, 4: 0.5]) == 1)
    }
}
