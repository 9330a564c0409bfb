import Foundation
import GRDB
import Testing
@testable import MoontuneStore

/// Migration v16: a tracker given up on (its reason in `status`), and rewinds moving the trackers'
/// marks back in the same transaction as the steps they forget.
@Suite struct TrackingStoreTests {
    @Test func theTrackerFailureMigrationComesAfterTheSweeps() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let applied = try await store.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        let v16 = try #require(applied.firstIndex(of: "v16: tracker failures and rewinds"), "\(applied)")
        let v15 = try #require(applied.firstIndex { $0.hasPrefix("v15") }, "\(applied)")
        #expect(v16 == v15 + 1, "\(applied)")
        #expect(applied.last == "v17: eval grader means", "\(applied)")
    }

    @Test func aRewindMovesEveryTrackersMarksBackAndCountsIt() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let id = try #require(try await makeJob(store).id)
        for k in 1...8 {
            try await store.recordStepIntent(jobID: id, k: k, exampleIDs: "[]", now: Int64(k))
            try await store.markStepApplied(jobID: id, k: k, metrics: StepMetrics(), reconciled: false, now: Int64(k))
        }
        var board = try await store.trackerState(jobID: id, tracker: "tensorboard", target: "/runs/job", now: 1)
        (board.stepsThrough, board.evalsThrough, board.endedState) = (8, 5, "stopped")
        try await store.saveTrackerState(board)
        var mlflow = try await store.trackerState(jobID: id, tracker: "mlflow", target: "uri", now: 1)
        (mlflow.stepsThrough, mlflow.evalsThrough) = (2, -1)
        try await store.saveTrackerState(mlflow)

        #expect(try await store.rewindSteps(jobID: id, after: 4) == 4)
        _ = try await store.rewindSteps(jobID: id, after: 6)  // a second rewind before the trackers dealt with the first
        let states = Dictionary(uniqueKeysWithValues: try await store.trackerStates(jobID: id).map { ($0.tracker, $0) })
        let rewound = try #require(states["tensorboard"])
        #expect(rewound.stepsThrough == 4 && rewound.evalsThrough == 4 && rewound.endedState == nil)
        #expect(rewound.rewinds == 2 && rewound.rewoundTo == 4 && rewound.rewindPending, "the lowest pending step wins")
        #expect(states["mlflow"]?.stepsThrough == 2 && states["mlflow"]?.evalsThrough == -1, "marks behind the rewind stay")

        // Dealt with, then rewound again: the new step alone counts.
        var dealt = rewound
        dealt.rewindsApplied = dealt.rewinds
        try await store.saveTrackerState(dealt)
        _ = try await store.rewindSteps(jobID: id, after: 3)
        let again = try #require(try await store.recordedTrackerState(jobID: id, tracker: "tensorboard"))
        #expect(again.rewoundTo == 3 && again.rewinds == 3 && again.rewindsApplied == 2 && again.stepsThrough == 3)
    }

    @Test func aFailedTrackerShowsFailedWithItsReasonInStatus() async throws {
        let store = try ProgressStore(path: try temporaryDirectory().appendingPathComponent("s.sqlite").path)
        let id = try #require(try await makeJob(store).id)
        _ = try await store.trackerState(jobID: id, tracker: "mlflow", target: "uri", now: 1)
        let failure = TrackerFailure(endpoint: "POST /api/2.0/mlflow/runs/log-batch", status: 403, errorCode: "PERMISSION_DENIED",
                                     message: "no write access", atMs: 42)
        try await store.recordTrackerFailure(jobID: id, tracker: "mlflow", failure: failure)
        let status = try #require(try await store.trackerStatuses(jobID: id).first)
        #expect(status.state == "failed" && status.failure == failure)
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(status)) as? [String: Any])
        #expect(json["state"] as? String == "failed")
        let reason = try #require(json["failure"] as? [String: Any])
        #expect(reason["status"] as? Int == 403 && reason["error_code"] as? String == "PERMISSION_DENIED")
        #expect(reason["endpoint"] as? String == "POST /api/2.0/mlflow/runs/log-batch" && reason["message"] as? String == "no write access")
        #expect("\(failure)" == "POST /api/2.0/mlflow/runs/log-batch answered 403 PERMISSION_DENIED: no write access")

        // The marks saved again keep it; clearing it is the delivery's to do.
        var state = try #require(try await store.recordedTrackerState(jobID: id, tracker: "mlflow"))
        #expect(state.failure == failure)
        state.failure = nil
        try await store.saveTrackerState(state)
        #expect(try await store.trackerStatuses(jobID: id).first?.state == "delivering")
    }
}
