/// A JSON number kept as the text it was written with, so that integers up to 64 bits and the
/// user's own spelling survive, alongside its value as a Double.
package struct JSONNumber: Sendable, Hashable {
    package let literal: String
    package let double: Double

    package init(literal: String, double: Double) {
        self.literal = literal
        self.double = double
    }

    package init(_ value: Int) {
        self.init(literal: String(value), double: Double(value))
    }

    package init(_ value: UInt64) {
        self.init(literal: String(value), double: Double(value))
    }

    /// A finite Double, written the shortest way that reads back the same.
    package init(_ value: Double) {
        self.init(literal: value.isFinite ? "\(value)" : "null", double: value)
    }

    /// Whether the literal has no fraction or exponent part.
    package var isIntegerLiteral: Bool {
        !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" || $0 == "N" || $0 == "I" })
    }

    /// The value as an Int when it is integral (`16` and `16.0` both are) and fits.
    package var int: Int? {
        if isIntegerLiteral { return Int(literal) }
        guard double.isFinite, double.rounded() == double, abs(double) < 9.0e15 else { return nil }
        return Int(double)
    }

    /// The value as a UInt64 when it is integral and fits; exact for integer literals.
    package var uint64: UInt64? {
        if isIntegerLiteral { return UInt64(literal) }
        guard double.isFinite, double.rounded() == double, double >= 0, double < 9.0e15 else { return nil }
        return UInt64(double)
    }
}

/// A parsed JSON value with the byte offset of each node, so problems can name a line.
package indirect enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONNode])
    case object([JSONMember])

    /// How a type error names what it found.
    package var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// A value and where it starts in the parsed text.
package struct JSONNode: Sendable, Hashable {
    package var value: JSONValue
    package var offset: Int

    package init(_ value: JSONValue, offset: Int = 0) {
        self.value = value
        self.offset = offset
    }

    /// The value of an object's member (the last one when a key repeats), nil otherwise.
    package subscript(key: String) -> JSONNode? {
        guard case .object(let members) = value else { return nil }
        return members.last(where: { $0.key == key })?.node
    }
}

/// One member of an object, in the order written.
package struct JSONMember: Sendable, Hashable {
    package var key: String
    package var node: JSONNode

    package init(key: String, node: JSONNode) {
        self.key = key
        self.node = node
    }
}

// MARK: - Writing

extension JSONValue {
    /// Compact JSON text. With `sortedKeys` the output is canonical for values built in code.
    /// With `canonical`, members are sorted by the UTF-8 bytes of their keys and a repeated key
    /// keeps only its last value: equal meaning, equal text (the simulator's digests).
    package func serialized(sortedKeys: Bool = false, canonical: Bool = false) -> String {
        var out = ""
        write(to: &out, order: canonical ? .canonical : sortedKeys ? .sortedKeys : .asWritten)
        return out
    }

    private enum MemberOrder {
        case asWritten, sortedKeys, canonical
    }

    private func write(to out: inout String, order: MemberOrder) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let number): out += number.literal
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let elements):
            out += "["
            for (position, element) in elements.enumerated() {
                if position > 0 { out += "," }
                element.value.write(to: &out, order: order)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let ordered: [JSONMember] = switch order {
            case .asWritten: members
            case .sortedKeys: members.sorted { $0.key < $1.key }
            case .canonical:
                Dictionary(members.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last }).values
                    .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            }
            for (position, member) in ordered.enumerated() {
                if position > 0 { out += "," }
                Self.writeString(member.key, to: &out)
                out += ":"
                member.node.value.write(to: &out, order: order)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String) {
        // Fast path: most strings (ids, base64 images of hundreds of KB) need no escape at all.
        var text = text
        let plain = text.withUTF8 { bytes in
            JSONPlainBytes.end(in: UnsafeRawBufferPointer(bytes), from: 0) == bytes.count
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
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - Building

extension JSONValue {
    /// An object from key-value pairs in the given order; nil values are left out.
    package static func members(_ pairs: KeyValuePairs<String, JSONValue?>) -> JSONValue {
        .object(pairs.compactMap { pair in pair.value.map { JSONMember(key: pair.key, node: JSONNode($0)) } })
    }

    package static func list(_ values: [JSONValue]) -> JSONValue {
        .array(values.map { JSONNode($0) })
    }

    package static func int(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }
    package static func double(_ value: Double) -> JSONValue { .number(JSONNumber(value)) }
}
