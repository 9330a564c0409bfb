import Foundation

/// One JSON value kept exactly as the server sent it.
///
/// Rollouts and echoed requests must go back to `train_step` unchanged, with every field,
/// 64-bit integer and unicode escape intact. Decoding them into structs and encoding them again
/// would silently drop or alter what we do not model, so they are held as validated bytes and
/// spliced into outgoing bodies as they are.
public struct RawJSON: Sendable, Hashable, CustomStringConvertible {
    /// The UTF-8 text of exactly one JSON value, without surrounding whitespace.
    public let bytes: [UInt8]

    /// Validates `bytes` as one complete JSON value.
    public init(validating bytes: [UInt8]) throws(JSONSyntaxError) {
        var scanner = JSONScanner(bytes)
        let range = try scanner.scanDocument()
        self.bytes = Array(bytes[range])
    }

    public init(validating text: String) throws(JSONSyntaxError) {
        try self.init(validating: Array(text.utf8))
    }

    /// Wraps bytes already known to be one valid JSON value (a span found by `JSONScanner`).
    package init(trusted bytes: ArraySlice<UInt8>) {
        self.bytes = Array(bytes)
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
    public var description: String { text }

    /// The kind of value, read from its first byte.
    public var isObject: Bool { bytes.first == UInt8(ascii: "{") }
    public var isArray: Bool { bytes.first == UInt8(ascii: "[") }
    public var isNull: Bool { bytes.first == UInt8(ascii: "n") }

    /// The members of an object, in order, each value kept raw. Nil if this is not an object.
    public func objectMembers() -> [(key: String, value: RawJSON)]? {
        guard isObject else { return nil }
        var scanner = JSONScanner(bytes)
        // The bytes were validated when this value was made, so a failure here cannot happen;
        // it is mapped to nil rather than trapping all the same.
        guard let members = try? scanner.scanObjectMembers() else { return nil }
        return members.map { (key: $0.key, value: RawJSON(trusted: bytes[$0.value])) }
    }

    /// The value of one member of an object (the last one if a key repeats).
    public subscript(key: String) -> RawJSON? {
        objectMembers()?.last(where: { $0.key == key })?.value
    }

    /// The elements of an array, each kept raw. Nil if this is not an array.
    public func arrayElements() -> [RawJSON]? {
        guard isArray else { return nil }
        var scanner = JSONScanner(bytes)
        guard let elements = try? scanner.scanArrayElements() else { return nil }
        return elements.map { RawJSON(trusted: bytes[$0]) }
    }

    /// Decodes this value (or a part of it) with `JSONDecoder`, for the fields we do model.
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(bytes))
    }

    /// The JSON text of an encodable value, for building bodies that embed raw parts.
    public static func encoding<T: Encodable>(_ value: T) throws -> RawJSON {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return RawJSON(trusted: ArraySlice(Array(data)))
    }
}

/// A syntax error in JSON text, with the byte offset where it was found.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A strict RFC 8259 scanner that validates JSON text and reports where values lie, without
/// building values. It is iterative in what it returns and bounded in nesting depth, so hostile
/// input (deep nesting, huge bodies) cannot exhaust the stack.
package struct JSONScanner {
    package static let maxDepth = 256

    private let bytes: [UInt8]
    private var index: Int

    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.index = 0
    }

    /// Scans a whole document: one value with optional surrounding whitespace.
    package mutating func scanDocument() throws(JSONSyntaxError) -> Range<Int> {
        skipWhitespace()
        let range = try scanValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the value") }
        return range
    }

    /// Scans a document that is an object and returns each member's key and value range.
    package mutating func scanObjectMembers() throws(JSONSyntaxError) -> [(key: String, value: Range<Int>)] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw fail("expected an object") }
        index += 1
        var members: [(key: String, value: Range<Int>)] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return members
        }
        while true {
            skipWhitespace()
            let keyRange = try scanString()
            let key = try decodeString(keyRange)
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let value = try scanValue(depth: 1)
            members.append((key: key, value: value))
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "}"))
            return members
        }
    }

    /// Scans a document that is an array and returns each element's range.
    package mutating func scanArrayElements() throws(JSONSyntaxError) -> [Range<Int>] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "[") else { throw fail("expected an array") }
        index += 1
        var elements: [Range<Int>] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return elements
        }
        while true {
            skipWhitespace()
            elements.append(try scanValue(depth: 1))
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "]"))
            return elements
        }
    }

    // MARK: - Values

    private mutating func scanValue(depth: Int) throws(JSONSyntaxError) -> Range<Int> {
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth)") }
        let start = index
        guard let byte = peek() else { throw fail("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    _ = try scanString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                    skipWhitespace()
                    _ = try scanValue(depth: depth + 1)
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    break
                }
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    _ = try scanValue(depth: depth + 1)
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    break
                }
            }
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
        case UInt8(ascii: "f"):
            try expectLiteral("false")
        case UInt8(ascii: "n"):
            try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
        default:
            throw fail("unexpected character")
        }
        return start..<index
    }

    /// Scans a string and returns its range including the quotes.
    private mutating func scanString() throws(JSONSyntaxError) -> Range<Int> {
        let start = index
        try expect(UInt8(ascii: "\""))
        while true {
            skipPlainStringBytes()
            guard let byte = peek() else { throw fail("unterminated string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return start..<index
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { throw fail("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"):
                    for _ in 0..<4 {
                        guard let hex = peek(), hex.isHexDigit else { throw fail("bad \\u escape") }
                        index += 1
                    }
                default:
                    throw fail("bad escape")
                }
            case 0x00..<0x20:
                throw fail("control character in string")
            case 0x80...0xFF:
                try scanMultibyte(lead: byte)
            default:
                break
            }
        }
    }

    private mutating func scanNumber() throws(JSONSyntaxError) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), first.isDigit else { throw fail("bad number") }
        index += 1
        if first != UInt8(ascii: "0") {
            while let byte = peek(), byte.isDigit { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), byte.isDigit else { throw fail("bad fraction") }
            while let byte = peek(), byte.isDigit { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), byte.isDigit else { throw fail("bad exponent") }
            while let byte = peek(), byte.isDigit { index += 1 }
        }
    }

    private func decodeString(_ range: Range<Int>) throws(JSONSyntaxError) -> String {
        // Keys are short; let Foundation resolve escapes and surrogate pairs.
        let slice = Array(bytes[range])
        if !slice.contains(UInt8(ascii: "\\")) {
            return String(decoding: slice.dropFirst().dropLast(), as: UTF8.self)
        }
        guard let value = try? JSONDecoder().decode(String.self, from: Data(slice)) else {
            throw JSONSyntaxError(offset: range.lowerBound, reason: "bad string")
        }
        return value
    }

    // MARK: - Helpers

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Moves past string bytes that need no attention (not a quote, a backslash or a control
    /// character) in one tight loop: an echoed request carries its image as a string of
    /// hundreds of KB, which byte-by-byte `peek` made the most expensive part of an answer.
    private mutating func skipPlainStringBytes() {
        let start = index
        index = bytes.withUnsafeBytes { JSONPlainBytes.asciiEnd(in: $0, from: start) }
    }

    /// Checks the UTF-8 sequence whose lead byte (≥ 0x80) was just read (RFC 3629: no overlong
    /// forms, no surrogates, nothing above U+10FFFF), and steps over its continuation bytes.
    private mutating func scanMultibyte(lead: UInt8) throws(JSONSyntaxError) {
        let count: Int
        var range: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0: count = 2; range = 0xA0...0xBF
        case 0xED: count = 2; range = 0x80...0x9F
        case 0xE1...0xEC, 0xEE...0xEF: count = 2
        case 0xF0: count = 3; range = 0x90...0xBF
        case 0xF1...0xF3: count = 3
        case 0xF4: count = 3; range = 0x80...0x8F
        default: index -= 1; throw fail("invalid UTF-8 in string")
        }
        for position in 0..<count {
            guard let byte = peek(), (position == 0 ? range : 0x80...0xBF).contains(byte) else {
                throw fail("invalid UTF-8 in string")
            }
            index += 1
        }
    }

    private mutating func skipWhitespace() {
        while let byte = peek(),
              byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func expect(_ byte: UInt8) throws(JSONSyntaxError) {
        guard peek() == byte else {
            throw fail("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        index += 1
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONSyntaxError) {
        for expected in literal.utf8 {
            guard peek() == expected else { throw fail("bad literal") }
            index += 1
        }
    }

    private func fail(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: index, reason: reason)
    }
}

extension UInt8 {
    package var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    fileprivate var isHexDigit: Bool {
        isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
