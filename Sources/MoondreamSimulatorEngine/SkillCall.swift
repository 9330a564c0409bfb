import MoontuneJSON
import Foundation

/// The simulator's skills.
package enum SimSkill: String, Sendable, CaseIterable {
    case query, point, detect
}

/// Sampling settings with the reference's defaults applied.
package struct SamplingParameters: Sendable, Equatable {
    package var temperature: Double = 1.0
    package var topP: Double = 1.0
    package var maxTokens: Int = 128
    package var maxObjects: Int?

    /// Inference is deterministic: temperature 0, whatever the request says.
    package static let greedy = SamplingParameters(temperature: 0)

    package init(temperature: Double = 1.0) { self.temperature = temperature }

    package init(_ fields: Fields?) throws(APIFailure) {
        guard let fields else { return }
        if let value = try fields.optionalDouble("temperature") {
            guard (0...5).contains(value) else { throw .badRequest("\(fields.name("temperature")) must be between 0 and 5, got \(value)") }
            temperature = value
        }
        if let value = try fields.optionalDouble("top_p") {
            guard value > 0, value <= 1 else { throw .badRequest("\(fields.name("top_p")) must be in (0, 1], got \(value)") }
            topP = value
        }
        if let value = try fields.optionalInt("max_tokens") {
            guard value >= 1 else { throw .badRequest("\(fields.name("max_tokens")) must be at least 1, got \(value)") }
            maxTokens = value
        }
        if let value = try fields.optionalInt("max_objects") {
            guard value >= 1 else { throw .badRequest("\(fields.name("max_objects")) must be at least 1, got \(value)") }
            maxObjects = value
        }
    }
}

/// One validated skill request: what a policy is asked.
package struct SkillCall: Sendable {
    package let skill: SimSkill
    /// The object to point at or detect, or the question.
    package let prompt: String
    package let imageURL: String?
    package let reasoning: Bool
    package let settings: SamplingParameters
    /// `spatial_refs` (query and point): points `[x, y]` and boxes `[x1, y1, x2, y2]`, 0–1.
    package let spatialRefs: [[Double]]

    /// The policy key: a stable hash of skill, image and prompt (computed once: images are big).
    package let key: UInt64

    /// Reads the `request` of `/tuning/rollouts` (or of a train_step group).
    package init(rolloutRequest value: JSONValue, path: String) throws(APIFailure) {
        let fields = try Fields(value, path: path)
        let skillName = try fields.string("skill")
        guard let skill = SimSkill(rawValue: skillName) else {
            throw .badRequest("\(fields.name("skill")) '\(skillName)' is not a known skill (query, point, detect)")
        }
        self.skill = skill
        (prompt, imageURL, reasoning) = try Self.readPrompt(skill, fields)
        settings = try SamplingParameters(fields.optionalObject("settings"))
        spatialRefs = try Self.readSpatialRefs(skill, fields)
        key = Self.key(skill, imageURL, prompt, spatialRefs)
    }

    /// Reads the body of an inference endpoint (`/v1/query`, `/v1/point`, `/v1/detect`).
    package init(inference skill: SimSkill, fields: Fields) throws(APIFailure) {
        self.skill = skill
        (prompt, imageURL, reasoning) = try Self.readPrompt(skill, fields)
        var settings = SamplingParameters.greedy
        let asked = try SamplingParameters(fields.optionalObject("settings"))
        settings.maxObjects = asked.maxObjects
        settings.maxTokens = asked.maxTokens
        self.settings = settings
        spatialRefs = try Self.readSpatialRefs(skill, fields)
        key = Self.key(skill, imageURL, prompt, spatialRefs)
    }

    /// A stable hash of skill, image and prompt; spatial references, when given, are part of the
    /// prompt (so requests without them keep the keys they always had).
    private static func key(_ skill: SimSkill, _ imageURL: String?, _ prompt: String, _ refs: [[Double]]) -> UInt64 {
        guard !refs.isEmpty else { return FNV1a.hash(skill.rawValue, imageURL ?? "", prompt) }
        let refsText = refs.map { $0.map { JSONNumber.canonicalLiteral(of: $0) }.joined(separator: ",") }.joined(separator: ";")
        return FNV1a.hash(skill.rawValue, imageURL ?? "", prompt, refsText)
    }

    /// Reads `spatial_refs`: a list of `[x, y]` or `[x1, y1, x2, y2]`, each number from 0 to 1
    /// (and x1 ≤ x2, y1 ≤ y2). Query and point only.
    package static func readSpatialRefs(_ skill: SimSkill, _ fields: Fields) throws(APIFailure) -> [[Double]] {
        guard let value = fields.value("spatial_refs") else { return [] }
        let name = fields.name("spatial_refs")
        guard skill != .detect else { throw .badRequest("\(name) is only accepted for the query and point skills, not detect") }
        guard let elements = value.arrayValue else { throw .badRequest("\(name) must be an array, not \(value.kindName)") }
        var refs: [[Double]] = []
        for (index, element) in elements.enumerated() {
            let place = "\(name)[\(index)]"
            guard let numbers = element.arrayValue else {
                throw .badRequest("\(place) must be [x, y] or [x1, y1, x2, y2], not \(element.kindName)")
            }
            guard numbers.count == 2 || numbers.count == 4 else {
                throw .badRequest("\(place) must be [x, y] or [x1, y1, x2, y2], not \(numbers.count) numbers")
            }
            var ref: [Double] = []
            for (position, number) in numbers.enumerated() {
                guard let coordinate = number.doubleValue, coordinate.isFinite else {
                    throw .badRequest("\(place)[\(position)] must be a number, not \(number.kindName)")
                }
                guard (0...1).contains(coordinate) else { throw .badRequest("\(place)[\(position)] must be between 0 and 1, got \(coordinate)") }
                ref.append(coordinate)
            }
            if ref.count == 4, ref[0] > ref[2] || ref[1] > ref[3] {
                throw .badRequest("\(place) is a box [x1, y1, x2, y2] with x1 > x2 or y1 > y2")
            }
            refs.append(ref)
        }
        return refs
    }

    /// The skill's own fields: a question (image optional) or an object (image required).
    private static func readPrompt(_ skill: SimSkill, _ fields: Fields) throws(APIFailure) -> (String, String?, Bool) {
        switch skill {
        case .query:
            (try fields.nonEmptyString("question"), try optionalImage(fields), try fields.optionalBool("reasoning") ?? false)
        case .point, .detect:
            (try fields.nonEmptyString("object"), try requiredImage(fields), false)
        }
    }

    package static func requiredImage(_ fields: Fields) throws(APIFailure) -> String {
        guard let url = try optionalImage(fields) else { throw .badRequest("\(fields.name("image_url")) is required") }
        return url
    }

    package static func optionalImage(_ fields: Fields) throws(APIFailure) -> String? {
        guard let url = try fields.optionalString("image_url") else { return nil }
        if let problem = DataURL.problem(url) {
            throw .badRequest("\(fields.name("image_url")) must be a base64 data URL (data:image/...;base64,...): \(problem)")
        }
        return url
    }
}

/// Checks of `data:image/...;base64,...` URLs, without decoding the image.
package enum DataURL {
    /// Nil when `url` is a well-formed base64 image data URL, else what is wrong.
    package static func problem(_ url: String) -> String? {
        let prefix = "data:image/"
        guard url.hasPrefix(prefix) else { return "it does not start with 'data:image/'" }
        guard let marker = url.range(of: ";base64,") else { return "it has no ';base64,' marker" }
        let mediaSubtype = url[url.index(url.startIndex, offsetBy: prefix.count)..<marker.lowerBound]
        let subtypeName = mediaSubtype.split(separator: ";", maxSplits: 1).first ?? ""
        guard !subtypeName.isEmpty, subtypeName.utf8.allSatisfy({ isSubtypeByte($0) }) else {
            return "the image type is missing or malformed"
        }
        var payload = String(url[marker.upperBound...])
        return payload.withUTF8 { bytes -> String? in
            guard !bytes.isEmpty else { return "the base64 payload is empty" }
            var padding = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "=") { padding += 1; continue }
                guard padding == 0, base64Table[Int(byte)] else { return "the payload is not base64" }
            }
            guard padding <= 2, bytes.count % 4 == 0 || padding == 0 else { return "the base64 padding is wrong" }
            return nil
        }
    }

    /// Which bytes may appear in base64 (standard or URL-safe alphabet).
    private static let base64Table: [Bool] = (0..<256).map { value in
        let byte = UInt8(value)
        return (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    private static func isSubtypeByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }
}
