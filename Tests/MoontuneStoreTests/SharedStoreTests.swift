import Foundation
@testable import MoontuneStore
import Testing

/// Issue 21: one writable store (one `DatabasePool`) per database file per process.
@Suite struct SharedStoreTests {
    @Test func everyTaskOfAProcessGetsTheSameStoreOfAFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-shared-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("state.sqlite").path
        // Opened concurrently by many tasks, as serve's jobs start together: one store.
        let stores = try await withThrowingTaskGroup(of: ProgressStore.self) { group in
            for _ in 0..<8 { group.addTask { try await ProgressStore.shared(path: path) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let first = try #require(stores.first)
        let again = try await ProgressStore.shared(path: folder.appendingPathComponent("./state.sqlite").path)
        #expect(again === first, "the same file by another spelling")
        let held = stores.filter { $0 === first }.count
        #expect(held >= 1)
        // A store opened concurrently that lost the race is never handed out afterwards.
        #expect(try await ProgressStore.shared(path: path) === first)
        // It works: the schema is there.
        #expect(try await first.allJobs().isEmpty)
    }
}
