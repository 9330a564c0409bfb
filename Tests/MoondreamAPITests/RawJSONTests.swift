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

    @Test func invalidUTF8InAStringIsRefusedAndValidUTF8Kept() throws {
        for bad in [[0x22, 0x33, 0xFF, 0x6E, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
                    [0x22, 0xE2, 0x82, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0x80, 0x22]] as [[UInt8]] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { try RawJSON(validating: bad) }
        }
        let text = #"{"answer":"café ☕ 𝄞","pad":"0123456789abcdef"}"#
        let raw = try RawJSON(validating: text)
        #expect(raw.bytes == Array(text.utf8))
        #expect(raw["answer"]?.text == #""café ☕ 𝄞""#)
    }

    @Test func randomBytesNeverCrashTheScanner() {
        // Seeded, so that a failure replays (MOONTUNE_FUZZ_SEED), and printed when it fails.
        let seed = ProcessInfo.processInfo.environment["MOONTUNE_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var generator = SeededBytes(seed: seed)
        let alphabet = Array("{}[]\",:0123456789.-eEtruefalsn \\u".utf8)
        for _ in 0..<3000 {
            let length = Int.random(in: 0..<64, using: &generator)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator) ?? 0 : UInt8.random(in: 0...255, using: &generator)
            }
            if let raw = try? RawJSON(validating: bytes) {
                // Whatever is accepted must also be accepted by Foundation's parser.
                #expect((try? JSONSerialization.jsonObject(with: Data(raw.bytes), options: [.fragmentsAllowed])) != nil,
                        "accepted \(raw.bytes) (MOONTUNE_FUZZ_SEED=\(seed))")
            }
        }
    }
}

/// SplitMix64, for a replayable fuzz run.
private struct SeededBytes: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
