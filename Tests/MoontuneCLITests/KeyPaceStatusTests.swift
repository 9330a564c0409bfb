import Foundation
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

/// Issue 22: the pace per key in `status`, human and JSON, by key id only.
@Suite struct KeyPaceStatusTests {
    let now: Int64 = 1_800_000_000_000

    @Test func theTableShowsEachKeysPaceItsSourceAndItsHold() {
        let paces = [
            KeyPaceRecord(source: "serve", keyID: "3f2a9c01b7de", pacePerSecond: 9.52, ceilingPerSecond: nil,
                          heldUntilMs: now + 3000, rateLimited: 3, accepted: 1840, updatedAtMs: now - 500),
            KeyPaceRecord(source: "run kitchen", keyID: "aa11bb22cc33", pacePerSecond: nil, ceilingPerSecond: 4,
                          heldUntilMs: nil, rateLimited: 0, accepted: 12, updatedAtMs: now - 60_000),
        ]
        let text = KeyPaceText.lines(paces, nowMs: now).joined(separator: "\n")
        #expect(text.contains("pace per API key"))
        #expect(text.contains("3f2a9c01b7de") && text.contains("9.52/s") && text.contains("Retry-After, 3"))
        #expect(text.contains("run kitchen") && text.contains("unpaced") && text.contains("4.00/s"))
        #expect(text.contains("ended (last seen"), "a pace not rewritten for a minute is an ended process's")
        #expect(KeyPaceText.lines([], nowMs: now).isEmpty)
    }

    @Test func statusJSONCarriesKeyPacesOnlyWhenThereAreAny() throws {
        let none = try StatusDocument(jobs: []).encoded()
        #expect(!none.contains("key_paces"))
        let some = try StatusDocument(jobs: [], paces: [KeyPaceRecord(source: "serve", keyID: "3f2a9c01b7de", pacePerSecond: 2.5,
                                                                      ceilingPerSecond: nil, heldUntilMs: nil, rateLimited: 1,
                                                                      accepted: 9, updatedAtMs: now)]).encoded()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(some.utf8)) as? [String: Any])
        let pace = try #require((document["key_paces"] as? [[String: Any]])?.first)
        #expect(pace["pace_per_s"] as? Double == 2.5)
        #expect(pace["key_id"] as? String == "3f2a9c01b7de")
        #expect(pace["rate_limited"] as? Int == 1)
    }

    @Test func eachSourceReplacesOnlyItsOwnPaces() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-pace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try ProgressStore(path: folder.appendingPathComponent("s.sqlite").path)
        func pace(_ key: String, _ rate: Double) -> KeyPaceRecord {
            KeyPaceRecord(source: "", keyID: key, pacePerSecond: rate, ceilingPerSecond: nil, heldUntilMs: nil, rateLimited: 0,
                          accepted: 0, updatedAtMs: now)
        }
        try await store.recordKeyPaces([pace("k1", 5), pace("k2", 6)], source: "serve")
        try await store.recordKeyPaces([pace("k1", 2)], source: "run a")
        try await store.recordKeyPaces([pace("k1", 4)], source: "serve")
        let all = try await store.keyPaces()
        #expect(all.map { "\($0.keyID) \($0.source) \($0.pacePerSecond ?? 0)" } == ["k1 run a 2.0", "k1 serve 4.0"])
    }
}
