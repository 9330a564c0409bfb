/// Reading, building and comparing values by their meaning: the simulator's view of JSON.
///
/// The simulator cannot use `JSONSerialization` or `Codable` for rollouts: it must notice when a
/// client changes a 64-bit integer by one (which a trip through `Double` hides) and must compare
/// meaning, not bytes. A *normalized* value (`parseNormalized`) therefore keeps every number as a
/// canonical literal (integer literals keep every digit; other literals become the shortest text
/// of their `Double`, an integer when that is exact), a repeated key only once (its last value),
/// and no source offsets, so that equal meaning is equal structure and equal `canonicalText`.

// MARK: - Numbers

extension JSONNumber {
    /// A finite Double in canonical form: `0` for zero, an integer when the value is integral and
    /// exactly representable (`1`, not `1.0`), else the shortest text that reads back the same.
    /// A non-finite value (never valid JSON) is written `null`.
    package init(canonical value: Double) {
        self.init(literal: value.isFinite ? Self.canonicalLiteral(of: value) : "null", double: value)
    }

    /// The canonical text of a finite Double (see `init(canonical:)`).
    package static func canonicalLiteral(of value: Double) -> String {
        if value == 0 { return "0" }
        if value.rounded() == value, abs(value) <= 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    /// The canonical text of a number literal: integer literals keep all their digits (no
    /// rounding; leading zeros and the sign of zero dropped), other literals are read as a Double
    /// and written in canonical form. Nil when the literal's value is not finite.
    package static func canonicalLiteral(_ literal: String) -> String? {
        let isInteger = !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" || $0 == "N" || $0 == "I" })
        if isInteger {
            var digits = Substring(literal)
            let negative = digits.first == "-"
            if negative { digits = digits.dropFirst() }
            let trimmed = digits.drop(while: { $0 == "0" })
            if trimmed.isEmpty { return "0" }
            return negative ? "-" + trimmed : String(trimmed)
        }
        guard let value = Double(literal), value.isFinite else { return nil }
        return canonicalLiteral(of: value)
    }
}

// MARK: - Building

extension JSONMember {
    package init(_ key: String, _ value: JSONValue) {
        self.init(key: key, node: JSONNode(value))
    }

    /// The member's value.
    package var value: JSONValue { node.value }
}

extension JSONValue {
    /// An object from key-value pairs in the given order (for members collected in code).
    package static func members(_ pairs: [(String, JSONValue)]) -> JSONValue {
        .object(pairs.map { JSONMember($0.0, $0.1) })
    }

    package static func uint(_ value: UInt64) -> JSONValue { .number(JSONNumber(value)) }

    /// A number in canonical form (`JSONNumber(canonical:)`): `1`, not `1.0` as `double` writes.
    package static func canonicalDouble(_ value: Double) -> JSONValue { .number(JSONNumber(canonical: value)) }

    /// The object with `key` set to `value`, after its other members (an earlier member of that
    /// name is removed). Not an object: unchanged.
    package func setting(_ key: String, to value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members.removeAll { $0.key == key }
        members.append(JSONMember(key, value))
        return .object(members)
    }
}

// MARK: - Reading

extension JSONValue {
    /// The value of an object's member (the last one when a key repeats), nil otherwise.
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.node.value
    }

    package var objectMembers: [JSONMember]? {
        if case .object(let members) = self { return members }
        return nil
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements.map(\.value) }
        return nil
    }

    package var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    package var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    package var doubleValue: Double? {
        if case .number(let number) = self { return number.double }
        return nil
    }

    /// The value as an Int when it is integral (`3` and `3.0` are; `3.5` is not) and fits.
    package var intValue: Int? {
        if case .number(let number) = self { return number.int }
        return nil
    }

    package var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Compact JSON text with members sorted by their UTF-8 bytes and a repeated key once: for a
    /// normalized value, equal meaning, equal text (the simulator's digests).
    package var canonicalText: String { serialized(canonical: true) }
}

// MARK: - Normalizing

extension JSONValue {
    /// Parses one document (surrounding whitespace allowed) and normalizes it. A lone UTF-16
    /// surrogate in a `\u` escape becomes U+FFFD (clients' bodies are taken as sent, where a
    /// config file would be refused).
    package static func parseNormalized(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONParser.parse(bytes, loneSurrogates: .replace).normalized()
    }

    package static func parseNormalized(_ text: String) throws(JSONParseError) -> JSONValue {
        try parseNormalized(Array(text.utf8))
    }
}

extension JSONNode {
    /// The value with number literals canonical, a repeated key kept once (its last value, in the
    /// position of that last occurrence) and offsets dropped. A number whose value is not finite
    /// (`1e400`) is an error at its offset.
    package func normalized() throws(JSONParseError) -> JSONValue {
        switch value {
        case .null, .bool, .string: return value
        case .number(let number):
            guard let canonical = JSONNumber.canonicalLiteral(number.literal) else {
                throw JSONParseError(offset: offset, message: "number out of range")
            }
            return canonical == number.literal ? value : .number(JSONNumber(literal: canonical, double: number.double))
        case .array(let elements):
            var values: [JSONNode] = []
            values.reserveCapacity(elements.count)
            for element in elements { values.append(JSONNode(try element.normalized())) }
            return .array(values)
        case .object(let members):
            var normalized: [JSONMember] = []
            normalized.reserveCapacity(members.count)
            for member in members {
                let converted = try member.node.normalized()
                normalized.removeAll { $0.key == member.key }
                normalized.append(JSONMember(member.key, converted))
            }
            return .object(normalized)
        }
    }
}
