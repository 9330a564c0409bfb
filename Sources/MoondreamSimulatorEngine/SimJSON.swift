import MoontuneJSON

/// A JSON value as the simulator builds its replies and reads requests: the package's one JSON
/// layer (`MoontuneJSON`) parses and writes it; this is only the shape that is convenient to
/// build in code (members as pairs, no source offsets) and to compare by meaning.
///
/// The simulator cannot use `JSONSerialization` or `Codable` for rollouts: it must notice when a
/// client changes a 64-bit integer by one (which a trip through `Double` hides) and must compare
/// meaning, not bytes. Numbers therefore keep a canonical text: integer literals keep every digit,
/// other literals become the shortest text of their `Double`.
package enum SimJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Canonical number text (see `SimJSON.canonicalNumber`).
    case number(String)
    case string(String)
    case array([SimJSON])
    /// Members in the order they were read or built; a repeated key keeps its last value.
    case object([(String, SimJSON)])

    package static func == (lhs: SimJSON, rhs: SimJSON) -> Bool {
        lhs.canonicalText == rhs.canonicalText
    }

    package static func int(_ value: Int) -> SimJSON { .number(String(value)) }
    package static func uint(_ value: UInt64) -> SimJSON { .number(String(value)) }
    package static func double(_ value: Double) -> SimJSON { .number(canonicalNumber(of: value)) }

    // MARK: Reading

    package var objectMembers: [(String, SimJSON)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    package subscript(key: String) -> SimJSON? {
        objectMembers?.last(where: { $0.0 == key })?.1
    }

    package var arrayValue: [SimJSON]? {
        if case .array(let elements) = self { return elements }
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
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// The value as an integer when it is one exactly (`3` and `3.0` are; `3.5` is not).
    package var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    package var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the value's kind, for error messages: the shared value's words.
    package var kindName: String {
        switch self {
        case .array: JSONValue.array([]).kindName
        case .object: JSONValue.object([]).kindName
        default: shared.kindName
        }
    }

    /// The object with `key` set to `value` (replacing an earlier member of that name).
    package func setting(_ key: String, to value: SimJSON) -> SimJSON {
        guard var members = objectMembers else { return self }
        members.removeAll { $0.0 == key }
        members.append((key, value))
        return .object(members)
    }

    // MARK: Numbers

    /// The canonical text of a number literal: integer literals keep all their digits (no
    /// rounding), other literals are read as `Double` and written back in shortest form, as an
    /// integer when the value is integral and exactly representable.
    package static func canonicalNumber(literal: String) -> String? {
        let isInteger = !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        if isInteger {
            var digits = Substring(literal)
            let negative = digits.first == "-"
            if negative { digits = digits.dropFirst() }
            let trimmed = digits.drop(while: { $0 == "0" })
            if trimmed.isEmpty { return "0" }
            return (negative ? "-" : "") + trimmed
        }
        guard let value = Double(literal), value.isFinite else { return nil }
        return canonicalNumber(of: value)
    }

    package static func canonicalNumber(of value: Double) -> String {
        if value == 0 { return "0" }
        if value.rounded() == value, abs(value) <= 9_007_199_254_740_992 {
            return String(Int64(value))
        }
        return "\(value)"
    }
}

// MARK: Reading and writing, through MoontuneJSON

extension SimJSON {
    /// Why a body is not JSON, with the byte offset.
    package struct ParseFailure: Error, Sendable, CustomStringConvertible {
        package let offset: Int
        package let reason: String
        package var description: String { "malformed JSON at byte \(offset): \(reason)" }
    }

    /// Parses exactly one JSON value (surrounding whitespace allowed) with the shared parser.
    /// A lone UTF-16 surrogate in a `\u` escape becomes U+FFFD (clients' bodies are taken as sent,
    /// where a config file would be refused); a repeated key keeps its last value.
    package static func parse(_ bytes: [UInt8]) throws(ParseFailure) -> SimJSON {
        let node: JSONNode
        do throws(JSONParseError) {
            node = try JSONParser.parse(bytes, loneSurrogates: .replace)
        } catch {
            throw ParseFailure(offset: error.offset, reason: error.message)
        }
        return try SimJSON(node.value)
    }

    package static func parse(_ text: String) throws(ParseFailure) -> SimJSON {
        try parse(Array(text.utf8))
    }

    /// The simulator's view of a parsed value: number literals made canonical, repeated keys
    /// collapsed to their last value (in the position of that last occurrence).
    package init(_ value: JSONValue) throws(ParseFailure) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .string(let text): self = .string(text)
        case .number(let number):
            guard let canonical = SimJSON.canonicalNumber(literal: number.literal) else {
                throw ParseFailure(offset: 0, reason: "number out of range")
            }
            self = .number(canonical)
        case .array(let elements):
            var values: [SimJSON] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                do throws(ParseFailure) { values.append(try SimJSON(element.value)) } catch { throw ParseFailure(offset: element.offset, reason: error.reason) }
            }
            self = .array(values)
        case .object(let members):
            var pairs: [(String, SimJSON)] = []
            pairs.reserveCapacity(members.count)
            for member in members {
                let converted: SimJSON
                do throws(ParseFailure) { converted = try SimJSON(member.node.value) } catch { throw ParseFailure(offset: member.node.offset, reason: error.reason) }
                pairs.removeAll { $0.0 == member.key }
                pairs.append((member.key, converted))
            }
            self = .object(pairs)
        }
    }

    /// The shared value, for the shared writer. Number texts are already canonical literals.
    package var shared: JSONValue {
        switch self {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .number(let text): .number(JSONNumber(literal: text, double: Double(text) ?? 0))
        case .string(let text): .string(text)
        case .array(let elements): .array(elements.map { JSONNode($0.shared) })
        case .object(let members): .object(members.map { JSONMember(key: $0.0, node: JSONNode($0.1.shared)) })
        }
    }

    /// Compact JSON text with members in their stored order.
    package var text: String { shared.serialized() }

    /// Compact JSON text with members sorted by their UTF-8 bytes and duplicates removed: equal
    /// meaning, equal text. Used for digests.
    package var canonicalText: String { shared.serialized(canonical: true) }

    package var bytes: [UInt8] { Array(text.utf8) }
}
