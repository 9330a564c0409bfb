@testable import MoondreamAPI
import Testing

/// The direct reading of rollout outputs must give exactly what `JSONDecoder` gives, or step
/// aside: these compare the two on the API's shapes, on hostile values and on mutations.
@Suite struct RolloutOutputDirectDecodingTests {
    static let samples: [(Skill, String)] = [
        (.point, #"{"points": [{"x": 0.5, "y": 0.25}, {"x": 1, "y": -0.0, "label": "extra"}]}"#),
        (.point, #"{"points": []}"#),
        (.point, #"{"points": [{"x": 0.5}]}"#),
        (.point, #"{"points": [{"x": 0.5, "y": 0.5, "x": 0.7}]}"#),
        (.point, #"{"points": [{"x": "0.5", "y": 0.5}]}"#),
        (.point, #"{"points": [{"x": 1e999, "y": 0.5}]}"#),
        (.point, #"{"points": null}"#),
        (.detect, #"{"objects": [{"x_min": 0.1, "y_min": 0.2, "x_max": 0.4, "y_max": 0.6}]}"#),
        (.detect, #"{"objects": [{"x_min": 0.1, "y_min": 0.2, "x_max": 0.4}]}"#),
        (.detect, #"{"objects": [{"x_min": 1.5E-3, "y_min": 2E2, "x_max": -1, "y_max": 12345678901234567890}]}"#),
        (.query, #"{"answer": "red", "reasoning": null}"#),
        (.query, #"{"answer": "The car is \"red\".", "reasoning": "it is"}"#),
        (.query, #"{"answer": "ünï ✓ 🚀"}"#),
        (.query, #"{"answer": "\u0072ed", "reasoning": 3}"#),
        (.query, #"{"answer": 7}"#),
        (.query, #"{"answer": "a", "answer": "b"}"#),
        (.query, #"[1, 2]"#),
    ]

    static func slow(_ raw: RawJSON, _ skill: Skill) -> RolloutOutput? { RolloutOutput.decode(raw, skill: skill) }

    @Test func theDirectPathAgreesWithJSONDecoderOrStepsAside() throws {
        for (skill, text) in Self.samples {
            let raw = try RawJSON(validating: text)
            if let direct = RolloutOutput.decodeDirectly(raw, skill: skill) {
                #expect(direct == Self.slow(raw, skill), "\(text)")
            }
        }
        // The plain shapes are read directly, not handed back.
        #expect(RolloutOutput.decodeDirectly(try RawJSON(validating: Self.samples[0].1), skill: .point) != nil)
        #expect(RolloutOutput.decodeDirectly(try RawJSON(validating: Self.samples[7].1), skill: .detect) != nil)
        #expect(RolloutOutput.decodeDirectly(try RawJSON(validating: Self.samples[10].1), skill: .query) != nil)
    }

    @Test func mutationsNeverMakeTheTwoPathsDisagree() {
        var random = FuzzRandom(seed: 0x5EED_D1EC)
        var compared = 0
        for _ in 0..<8_000 {
            let (skill, text) = random.pick(Self.samples)
            let mutated = random.mutate(Array(text.utf8))
            guard let raw = try? RawJSON(validating: mutated) else { continue }
            for skill in [skill, .point, .detect, .query] {
                guard let direct = RolloutOutput.decodeDirectly(raw, skill: skill) else { continue }
                compared += 1
                #expect(direct == Self.slow(raw, skill), "\(String(decoding: mutated, as: UTF8.self))")
            }
        }
        #expect(compared > 100, "too few mutations were read directly to prove anything: \(compared)")
    }

    @Test func aRolloutTakesItsOwnSkillWhateverTheSpelling() throws {
        let escaped = try RawJSON(validating: #"{"skill": "\u0070oint", "output": {"points": [{"x": 0.5, "y": 0.5}]}}"#)
        #expect(Rollout(raw: escaped, skill: .query).output == .point([Point(x: 0.5, y: 0.5)]))
        let plain = try RawJSON(validating: #"{"skill": "detect", "output": {"objects": []}}"#)
        #expect(Rollout(raw: plain, skill: .point).output == .detect([]))
    }
}
