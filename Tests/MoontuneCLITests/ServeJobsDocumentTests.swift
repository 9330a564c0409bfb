import Foundation
@testable import MoontuneCLI
import MoontuneServe
@testable import MoontuneStore
import Testing

/// Issue 21: `/api/jobs` of `serve` costs the same however long the history: an unchanged history
/// is read once, finished jobs come a page at a time, and a client asks only for what changed.
@Suite struct ServeJobsDocumentTests {
    func withHistory(jobs: Int, steps: Int, _ body: (ProgressStore, String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-jobsdoc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.sqlite").path
        let store = try ProgressStore(path: path)
        try await store.writeSyntheticHistory(jobs: jobs, steps: steps)
        try await body(store, path)
    }

    func parse(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func sixtyFinishedJobsAreReadOnceAndPaged() async throws {
        try await withHistory(jobs: 60, steps: 100) { store, path in
            let document = ServeJobsDocument(databasePath: path)
            let first = try parse(try await document.document(store: store, query: JobsQuery()))
            let jobs = try #require(first["jobs"] as? [[String: Any]])
            #expect(jobs.count == 50, "a page of the most recent finished jobs")
            #expect(jobs.first?["name"] as? String == "history-60", "most recently updated first")
            #expect(jobs.allSatisfy { $0["state"] as? String == "completed" && $0["step"] as? Int == 100 })
            let finished = try #require(first["finished_jobs"] as? [String: Any])
            #expect(finished["total"] as? Int == 60)
            #expect((first["names"] as? [String])?.count == 60)
            #expect(await document.loads == 50)
            // Unchanged: nothing is read again.
            _ = try await document.document(store: store, query: JobsQuery())
            #expect(await document.loads == 50)
            // The next page reads the rest, once.
            let second = try parse(try await document.document(store: store, query: JobsQuery(finishedOffset: 50)))
            #expect((second["jobs"] as? [[String: Any]])?.count == 10)
            #expect(await document.loads == 60)
            // A client that asks what changed since its last answer gets nothing.
            let asOf = try #require(first["as_of_ms"] as? Int64 ?? (first["as_of_ms"] as? Int).map(Int64.init))
            let changed = try parse(try await document.document(store: store, query: JobsQuery(changedSince: asOf)))
            #expect((changed["jobs"] as? [[String: Any]])?.isEmpty == true)
            #expect((changed["names"] as? [String])?.count == 60, "every name, so a client can drop jobs that are gone")
        }
    }

    @Test func theAnswerDoesNotGrowWithTheHistory() async throws {
        try await withHistory(jobs: 60, steps: 100) { store, path in
            let document = ServeJobsDocument(databasePath: path)
            let sixty = try await document.document(store: store, query: JobsQuery()).utf8.count
            // 120 more, all ended after the first 60.
            try await store.writeSyntheticHistory(jobs: 120, steps: 100, now: ProgressStore.nowMs() + 200 * 3_600_000)
            let hundredEighty = try await document.document(store: store, query: JobsQuery()).utf8.count
            // The same page of 50 jobs; only the names list grows (a few bytes a job).
            #expect(Double(hundredEighty) < Double(sixty) * 1.15, "\(sixty) → \(hundredEighty) bytes")
            #expect(await document.loads == 100, "the new page's jobs read once each")
        }
    }
}
