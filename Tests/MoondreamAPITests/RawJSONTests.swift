import Foundation
import Testing
@testable import MoondreamAPI

@Suite struct RawJSONTests {
    @Test func keepsMembersByteForByteIncludingUnknownFieldsBigIntegersAndUnicode() throws {
        let text = #"{"skill":"point","output":{"points":[{"x":0.5,"y":0.25}]},"metadata":{"seq":9007199254740993,"note":"ünïcødé \u2713 🚀","nested":{"a":[1,{"b":null}]}}}"#
        let raw = try RawJSON(validating: text)
        let metadata = try #require(raw["metadata"])
        #expect(metadata.text == #"{"seq":9007199254740993,"note":"ünïcødé \u2713 🚀","nested":{"a":[1,{"b":null}]}}"#)
        #expect(raw["metadata"]?["seq"]?.text == "9007199254740993")
        #expect(raw.objectMembers()?.map(\.key) == ["skill", "output", "metadata"])
    }

    @Test func trimsSurroundingWhitespaceOnly() throws {
        let raw = try RawJSON(validating: "  \n[1, 2 ,3]\t ")
        #expect(raw.text == "[1, 2 ,3]")
        #expect(raw.arrayElements()?.map(\.text) == ["1", "2", "3"])
    }

    @Test(arguments: [
        "", "{", "}", "[1,]", "{\"a\":}", "{\"a\" 1}", "01", "1.", "-", "1e", "tru", "nul", "\"abc",
        "\"\\x\"", "\"\\u12G4\"", "{\"a\":1} x", "[1 2]", "{1:2}", "NaN", "Infinity", "\"a\u{01}b\"",
    ])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: text) }
    }

    @Test func rejectsNestingDeeperThanTheLimit() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try RawJSON(validating: deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect((try? RawJSON(validating: fine)) != nil)
    }

    @Test func decodesEscapedKeys() throws {
        let raw = try RawJSON(validating: #"{"a\u0062":1,"c":"d"}"#)
        #expect(raw["ab"]?.text == "1")
    }

    @Test func randomBytesNeverCrashTheScanner() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("{}[]\",:0123456789.-eEtruefalsn \\u".utf8)
        for _ in 0..<3000 {
            let length = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator) ?? 0 : UInt8.random(in: 0...255, using: &generator)
            }
            if let raw = try? RawJSON(validating: bytes) {
                // Whatever is accepted must also be accepted by Foundation's parser.
                #expect((try? JSONSerialization.jsonObject(with: Data(raw.bytes), options: [.fragmentsAllowed])) != nil,
                        "accepted \(raw.text)")
            }
        }
    }
}
