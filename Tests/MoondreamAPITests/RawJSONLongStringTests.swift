@testable import MoondreamAPI
import Testing

/// The scanner skips plain string bytes in bulk; what needs attention must still be seen.
@Suite struct RawJSONLongStringTests {
    static func document(_ middle: String) -> [UInt8] {
        Array(#"{"image_url": ""#.utf8) + Array(String(repeating: "A", count: 100_000).utf8) + Array(middle.utf8)
            + Array(String(repeating: "B", count: 1_000).utf8) + Array(#"", "n": 1}"#.utf8)
    }

    @Test func aLongPlainStringIsScannedAndItsMembersFound() throws {
        let escapes = #"\"\\\u00e9/"#
        let json = try RawJSON(validating: Self.document(escapes))
        #expect(json["n"]?.text == "1")
        #expect(json["image_url"]?.bytes.count == 100_000 + escapes.utf8.count + 1_000 + 2)
    }

    @Test func aControlCharacterOrABadEscapeDeepInALongStringIsRefused() {
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: Self.document("\u{01}")) }
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: Self.document("\n")) }
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: Self.document(#"\q"#)) }
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: Array(#"{"a": "AAAA"#.utf8)) }
    }
}
