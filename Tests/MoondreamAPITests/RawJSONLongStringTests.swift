@testable import MoondreamAPI
@testable import MoontuneJSON
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

@Suite struct JSONPlainBytesTests {
    @Test func everyByteValueAtEveryPositionOfAWordIsClassifiedAsOneByteAtATime() {
        for value in 0...255 {
            let byte = UInt8(value)
            for position in 0..<8 {
                // The other bytes plain ('A'), the one under test at `position`.
                var bytes = [UInt8](repeating: 0x41, count: 8)
                bytes[position] = byte
                let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                #expect(JSONPlainBytes.hasSpecial(word) == JSONPlainBytes.isSpecial(byte), "byte \(value) at \(position)")
            }
        }
    }

    @Test func theEndIsTheFirstSpecialByteWhereverItFalls() {
        for length in 0..<40 {
            for special in [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x00, 0x1F] {
                let bytes = [UInt8](repeating: 0xC3, count: length) + [special] + [UInt8](repeating: 0x41, count: 9)
                let end = bytes.withUnsafeBytes { JSONPlainBytes.end(in: $0, from: 0) }
                #expect(end == length)
            }
            let plain = [UInt8](repeating: 0x7F, count: length)
            #expect(plain.withUnsafeBytes { JSONPlainBytes.end(in: $0, from: 0) } == length)
        }
    }
}
