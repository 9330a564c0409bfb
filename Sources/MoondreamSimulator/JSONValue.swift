/// A JSON value as the simulator reads and writes it.
///
/// The simulator cannot use `JSONSerialization` or `Codable` for rollouts: it must notice when a
/// client changes a 64-bit integer by one (which a trip through `Double` hides) and must compare
/// meaning, not bytes. Numbers therefore keep a canonical text: integer literals keep every digit,
/// other literals become the shortest text of their `Double`.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// Canonical number text (see `JSONValue.canonicalNumber`).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in the order they were read or built; a repeated key keeps its last value.
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.canonicalText == rhs.canonicalText
    }

    static func int(_ value: Int) -> JSONValue { .number(String(value)) }
    static func uint(_ value: UInt64) -> JSONValue { .number(String(value)) }
    static func double(_ value: Double) -> JSONValue { .number(canonicalNumber(of: value)) }

    // MARK: Reading

    var objectMembers: [(String, JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    subscript(key: String) -> JSONValue? {
        objectMembers?.last(where: { $0.0 == key })?.1
    }

    var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    var doubleValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    /// The value as an integer when it is one exactly (`3` and `3.0` are; `3.5` is not).
    var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the value's kind, for error messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The object with `key` set to `value` (replacing an earlier member of that name).
    func setting(_ key: String, to value: JSONValue) -> JSONValue {
        guard var members = objectMembers else { return self }
        members.removeAll { $0.0 == key }
        members.append((key, value))
        return .object(members)
    }

    // MARK: Numbers

    /// The canonical text of a number literal: integer literals keep all their digits (no
    /// rounding), other literals are read as `Double` and written back in shortest form, as an
    /// integer when the value is integral and exactly representable.
    static func canonicalNumber(literal: String) -> String? {
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

    static func canonicalNumber(of value: Double) -> String {
        if value == 0 { return "0" }
        if value.rounded() == value, abs(value) <= 9_007_199_254_740_992 {
            return String(Int64(value))
        }
        return "\(value)"
    }
}

// MARK: Writing

extension JSONValue {
    /// Compact JSON text with members in their stored order.
    var text: String {
        var out = ""
        write(to: &out, sorted: false)
        return out
    }

    /// Compact JSON text with members sorted by key and duplicates removed: equal meaning, equal
    /// text. Used for digests.
    var canonicalText: String {
        var out = ""
        write(to: &out, sorted: true)
        return out
    }

    var bytes: [UInt8] { Array(text.utf8) }

    private func write(to out: inout String, sorted: Bool) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): JSONValue.writeString(text, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out, sorted: sorted)
            }
            out += "]"
        case .object(var members):
            if sorted {
                var last: [String: JSONValue] = [:]
                for (key, value) in members { last[key] = value }
                members = last.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value) }
            }
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(member.0, to: &out)
                out += ":"
                member.1.write(to: &out, sorted: sorted)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String) {
        // Fast path: most strings (ids, base64 images) need no escape at all.
        var text = text
        let plain = text.withUTF8 { bytes in
            for index in 0..<bytes.count where bytes[index] < 0x20 || bytes[index] == 0x22 || bytes[index] == 0x5C { return false }
            return true
        }
        if plain {
            out += "\""
            out += text
            out += "\""
            return
        }
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
