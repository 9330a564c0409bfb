import MoontuneJSON
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("JSON values compare meaning, not bytes")
struct JSONValueTests {
    @Test("key order, whitespace and escapes do not change the digest")
    func sameMeaningSameDigest() throws {
        let first = try JSONValue.parseNormalized(#"{"a": 1, "b": "caf\u00e9 \ud83d\ude80", "c": [1.0, {"d": null}]}"#)
        let second = try JSONValue.parseNormalized(#"{"c":[1,{"d":null}],"b":"café 🚀","a":1}"#)
        #expect(FNV1a.digest(of: first) == FNV1a.digest(of: second))
    }

    @Test("a 64-bit integer changed by one changes the digest")
    func bigIntegerKeepsEveryDigit() throws {
        let original = try JSONValue.parseNormalized(#"{"seq": 9007199254740993}"#)
        let rounded = try JSONValue.parseNormalized(#"{"seq": 9007199254740992}"#)
        let viaDouble = try JSONValue.parseNormalized(#"{"seq": 9.007199254740993e15}"#)
        #expect(original["seq"]?.serialized() == "9007199254740993")
        #expect(FNV1a.digest(of: original) != FNV1a.digest(of: rounded))
        #expect(FNV1a.digest(of: original) != FNV1a.digest(of: viaDouble))
    }

    @Test("a removed member changes the digest")
    func removedMemberChangesDigest() throws {
        let full = try JSONValue.parseNormalized(#"{"a": 1, "b": {"c": 2, "d": 3}}"#)
        let missing = try JSONValue.parseNormalized(#"{"a": 1, "b": {"c": 2}}"#)
        #expect(FNV1a.digest(of: full) != FNV1a.digest(of: missing))
    }

    @Test("malformed JSON is refused with an offset", arguments: ["{", "{\"a\":}", "[1,]", "01", "\"\\x\"", "{} x", "tru"])
    func malformedIsRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parseNormalized(text) }
    }

    @Test("written text parses back to the same value")
    func roundTrip() throws {
        let value = JSONValue.members([("s", .string("line\nbreak \"quoted\" \u{01} ü")), ("n", .canonicalDouble(-0.125)), ("b", .bool(false))])
        #expect(try JSONValue.parseNormalized(value.serialized()) == value)
    }

    @Test("canonical numbers: integral values without a fraction, others the shortest text; the config writer's `double` unchanged")
    func canonicalNumbers() {
        #expect(JSONValue.canonicalDouble(1).serialized() == "1")
        #expect(JSONValue.canonicalDouble(-0.0).serialized() == "0")
        #expect(JSONValue.canonicalDouble(0.5).serialized() == "0.5")
        #expect(JSONValue.canonicalDouble(1e-7).serialized() == "1e-07")
        #expect(JSONValue.canonicalDouble(9_007_199_254_740_992).serialized() == "9007199254740992")
        #expect(JSONValue.canonicalDouble(9_007_199_254_740_994).serialized() == "9.007199254740994e+15")
        #expect(JSONValue.canonicalDouble(.infinity).serialized() == "null")
        #expect(JSONValue.double(1).serialized() == "1.0")
        #expect(JSONValue.uint(UInt64.max).serialized() == "18446744073709551615")
    }

    @Test("normalizing: number literals canonical, a repeated key once (its last value, where it last was)",
          arguments: [
              (#"[3.0, 1e2, -0, 0.50, 12345678901234567890, 2.5E-3]"#, #"[3,100,0,0.5,12345678901234567890,0.0025]"#),
              (#"{"a": 1, "b": 2, "a": {"c": [], "c": true}}"#, #"{"b":2,"a":{"c":true}}"#),
              (#" "caf\u00e9" "#, #""café""#),
          ])
    func normalizing(_ text: String, _ expected: String) throws {
        #expect(try JSONValue.parseNormalized(text).serialized() == expected)
    }

    @Test("a number out of range is refused at its offset; a lone surrogate reads as U+FFFD")
    func outOfRange() throws {
        #expect(throws: JSONParseError(offset: 8, message: "number out of range")) { try JSONValue.parseNormalized(#"{"a": [ 1e400]}"#) }
        #expect(try JSONValue.parseNormalized(#""\ud800""#) == .string("\u{FFFD}"))
    }

    @Test("parsed and built values are equal when they mean the same, whatever the source offsets")
    func parsedEqualsBuilt() throws {
        let parsed = try JSONValue.parseNormalized(#"  {"x": 0.25, "tags": ["a", null], "n": {"k": 7.0}}"#)
        let built = JSONValue.members([("x", .canonicalDouble(0.25)), ("tags", .list([.string("a"), .null])),
                                       ("n", .members([("k", .int(7))]))])
        #expect(parsed == built)
        #expect(parsed.canonicalText == #"{"n":{"k":7},"tags":["a",null],"x":0.25}"#)
    }

    @Test("accessors read members, elements and scalars; intValue takes 3.0 but not 3.5")
    func accessors() throws {
        let value = try JSONValue.parseNormalized(#"{"i": 3.0, "f": 3.5, "s": "t", "b": false, "z": null, "l": [1, 2], "i": 4}"#)
        #expect(value["i"]?.intValue == 4 && value["f"]?.intValue == nil && value["f"]?.doubleValue == 3.5)
        #expect(value["s"]?.stringValue == "t" && value["b"]?.boolValue == false && value["z"]?.isNull == true)
        #expect(value["l"]?.arrayValue == [.int(1), .int(2)] && value["s"]?.arrayValue == nil)
        #expect(value.objectMembers?.map(\.key) == ["f", "s", "b", "z", "l", "i"])
        #expect(value["missing"] == nil && JSONValue.string("x")["i"] == nil)
    }

    @Test("setting replaces a member and puts it last; on a non-object it changes nothing")
    func setting() {
        let value = JSONValue.members([("a", .int(1)), ("b", .int(2))]).setting("a", to: .bool(true))
        #expect(value.serialized() == #"{"b":2,"a":true}"#)
        #expect(JSONValue.int(1).setting("a", to: .null) == .int(1))
    }
}

@Suite("Rewards follow the reference definitions")
struct RewardTests {
    @Test("point reward is the mean of max(0, 1 - d/0.2) over predicted points")
    func pointReward() {
        let truth = [SimPoint(x: 0.5, y: 0.5), SimPoint(x: 0.9, y: 0.9)]
        let predicted = [SimPoint(x: 0.5, y: 0.6), SimPoint(x: 0.1, y: 0.1)]
        // 0.1 away from the first truth point → 0.5; the second is far from both → 0.
        #expect(abs(Rewards.point(predicted, truth: truth) - 0.25) < 1e-9)
        #expect(Rewards.point([], truth: truth) == 0)
    }

    @Test("point containment counts points inside any box, edges included")
    func containment() {
        let boxes = [SimBox(xMin: 0.1, yMin: 0.1, xMax: 0.3, yMax: 0.3)]
        let predicted = [SimPoint(x: 0.3, y: 0.1), SimPoint(x: 0.2, y: 0.2), SimPoint(x: 0.5, y: 0.5), SimPoint(x: 0.31, y: 0.2)]
        #expect(Rewards.containment(predicted, boxes: boxes) == 0.5)
        #expect(Rewards.containment([], boxes: boxes) == 0)
    }

    @Test("detect reward is F1 of greedy IoU ≥ 0.5 matching")
    func detectF1() {
        let truth = [SimBox(xMin: 0, yMin: 0, xMax: 0.4, yMax: 0.4), SimBox(xMin: 0.6, yMin: 0.6, xMax: 1, yMax: 1)]
        let predicted = [SimBox(xMin: 0, yMin: 0, xMax: 0.4, yMax: 0.4), SimBox(xMin: 0.05, yMin: 0, xMax: 0.45, yMax: 0.4),
                         SimBox(xMin: 0.2, yMin: 0.2, xMax: 0.5, yMax: 0.5)]
        // One true positive (the exact box); the near-duplicate finds its truth taken. P = 1/3, R = 1/2.
        let expected = 2 * (1.0 / 3) * 0.5 / (1.0 / 3 + 0.5)
        #expect(abs(Rewards.detection(predicted, truth: truth) - expected) < 1e-9)
        #expect(Rewards.detection([], truth: []) == 1)
        #expect(Rewards.detection([], truth: truth) == 0)
        #expect(Rewards.detection(predicted, truth: []) == 0)
    }

    @Test("IoU just under 0.5 is no match")
    func iouThreshold() {
        let truth = [SimBox(xMin: 0, yMin: 0, xMax: 0.3, yMax: 0.3)]
        let shifted = [SimBox(xMin: 0.11, yMin: 0, xMax: 0.41, yMax: 0.3)]
        #expect(Rewards.detection(shifted, truth: truth) == 0)
    }
}

@Suite("Small pure pieces")
struct PurePieceTests {
    @Test("fault rates stack in a fixed order")
    func faultStacking() {
        var options = FaultOptions()
        options.dropRate = 0.1
        options.serverErrorRate = 0.2
        options.rateLimitRate = 0.3
        options.hangRate = 0.1
        #expect(FaultDecision.decide(options, roll: 0.05, pick: 0) == .drop)
        #expect(FaultDecision.decide(options, roll: 0.15, pick: 0) == .serverError(status: 500))
        #expect(FaultDecision.decide(options, roll: 0.15, pick: 0.99) == .serverError(status: 503))
        #expect(FaultDecision.decide(options, roll: 0.45, pick: 0) == .rateLimit)
        #expect(FaultDecision.decide(options, roll: 0.65, pick: 0) == .hang)
        #expect(FaultDecision.decide(options, roll: 0.75, pick: 0) == FaultDecision.none)
    }

    @Test("fault options decode from partial snake_case JSON")
    func faultOptionsDecode() throws {
        let merged = try FaultOptions().merging(JSONValue.parseNormalized(#"{"drop_rate": 0.25, "rollout_latency_ms": 7}"#))
        #expect(merged.dropRate == 0.25 && merged.rolloutLatencyMs == 7 && merged.hangSeconds == 30)
        #expect(throws: APIFailure.self) { try FaultOptions().merging(JSONValue.parseNormalized(#"{"drop_rat": 0.25}"#)) }
        #expect(throws: APIFailure.self) { try FaultOptions().merging(JSONValue.parseNormalized(#"{"drop_rate": 2}"#)) }
    }

    @Test("data URLs must be base64 images", arguments: [
        ("data:image/png;base64,aGVsbG8=", true), ("data:image/jpeg;base64,AAAA", true),
        ("http://example.com/a.png", false), ("data:text/plain;base64,AAAA", false),
        ("data:image/png,AAAA", false), ("data:image/png;base64,", false), ("data:image/png;base64,A*A", false),
    ])
    func dataURL(_ url: String, _ valid: Bool) {
        #expect((DataURL.problem(url) == nil) == valid)
    }

    @Test("ULIDs are 26 Crockford characters and differ")
    func ulidShape() {
        var random = SimRandom(seed: 7)
        let first = ULID.make(milliseconds: 1_736_937_000_000, random: &random)
        let second = ULID.make(milliseconds: 1_736_937_000_000, random: &random)
        #expect(ULID.isWellFormed(first) && ULID.isWellFormed(second))
        #expect(first != second)
        #expect(first.prefix(10) == second.prefix(10))
    }

    @Test("cursors round-trip and forged ones are refused")
    func cursors() throws {
        #expect(try PageCursor.decode(PageCursor.encode(after: 42)) == 42)
        #expect(throws: APIFailure.self) { try PageCursor.decode("not-a-cursor") }
        #expect(throws: APIFailure.self) { try PageCursor.parameters(limit: "0", cursor: nil) }
        #expect(throws: APIFailure.self) { try PageCursor.parameters(limit: "101", cursor: nil) }
    }
}
