import Foundation
@testable import MoontuneLoop
import Testing

/// The session around a run: how it reads what the job recorded, and where validation runs.
@Suite struct JobSessionTests {
    @Test func aFingerprintThatNoLongerDecodesIsAnErrorNotASkippedCheck() {
        #expect(throws: SessionError.self) { try JobSession.decodeFingerprint("{\"nope\": 1}", job: "j") }
        do {
            _ = try JobSession.decodeFingerprint("not json", job: "j")
            Issue.record("no error")
        } catch {
            #expect("\(error)".hasPrefix("job j: the training settings recorded when it started (its fingerprint) can no longer be read"))
        }
    }

    @Test func anInvalidJobIsReportedFromTheThreadPoolBeforeAnythingIsRecorded() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-session-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("job.json")
        try Data(#"{"name": "j", "rank": 9, "data": {"train": "missing.jsonl"}, "train": {"steps": 1}}"#.utf8).write(to: config)
        let database = folder.appendingPathComponent("state.db").path
        await #expect {
            try await JobSession.run(RunRequest(configURL: config, databasePath: database, environment: [:]))
        } throws: { error in
            guard case .invalid(let problems) = error as? SessionError else { return false }
            return problems.count == 2
        }
        #expect(!FileManager.default.fileExists(atPath: database))
    }
}
