/// Where and why JSON text failed to parse.
package struct JSONParseError: Error, Sendable, Equatable {
    /// Byte offset into the parsed text.
    package var offset: Int
    package var message: String
    /// The JSON path of the value being read when the text broke off (`train.settings.top_p`,
    /// `ground_truth.points[0]`), so a problem names the field; empty at the top level.
    package var path: String = ""

    package init(offset: Int, message: String, path: String = "") {
        self.offset = offset
        self.message = message
        self.path = path
    }
}

/// A strict RFC 8259 parser that builds a `JSONValue` tree and remembers where each node starts.
///
/// It is used instead of JSONSerialization because problems must name a line and column, numbers
/// must keep their literal (a seed may use all 64 bits), and integers must stay apart from
/// booleans. Nesting is bounded, so hostile input cannot exhaust the stack.
package struct JSONParser {
    package static let maxDepth = 128

    /// Parses one whole document. A leading UTF-8 byte order mark is skipped.
    /// With `allowNonFinite`, the tokens `NaN`, `Infinity` and `-Infinity` (which Python's json
    /// module writes) are read as numbers, so the caller can name the field that holds them.
    /// With `loneSurrogates: .replace`, a `\u` escape of half a surrogate pair reads as U+FFFD
    /// (the simulator takes clients' bodies as sent); by default it is refused.
    package static func parse(_ bytes: [UInt8], allowNonFinite: Bool = false,
                              loneSurrogates: LoneSurrogates = .refuse) throws(JSONParseError) -> JSONNode {
        var parser = JSONParser(bytes: bytes, allowNonFinite: allowNonFinite, loneSurrogates: loneSurrogates)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        let node = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.fail("unexpected data after the JSON value") }
        return node
    }

    /// What a lone UTF-16 surrogate in a `\u` escape means.
    package enum LoneSurrogates: Sendable {
        case refuse, replace
    }

    private let bytes: [UInt8]
    private let allowNonFinite: Bool
    private let loneSurrogates: LoneSurrogates
    private var index = 0
    /// The keys and indices leading to the value being parsed, for error messages.
    private var path: [PathComponent] = []

    private enum PathComponent {
        case key(String)
        case index(Int)
    }

    /// How many components of a path an error shows; deeper ones are elided.
    package static let maxPathComponents = 8

    private init(bytes: [UInt8], allowNonFinite: Bool, loneSurrogates: LoneSurrogates) {
        self.bytes = bytes
        self.allowNonFinite = allowNonFinite
        self.loneSurrogates = loneSurrogates
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONNode {
        guard depth <= Self.maxDepth else { throw fail("nesting deeper than \(Self.maxDepth) levels") }
        let start = index
        guard let byte = peek() else { throw fail("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return JSONNode(try parseObject(depth: depth), offset: start)
        case UInt8(ascii: "["): return JSONNode(try parseArray(depth: depth), offset: start)
        case UInt8(ascii: "\""): return JSONNode(.string(try parseString()), offset: start)
        case UInt8(ascii: "t"): try literal("true"); return JSONNode(.bool(true), offset: start)
        case UInt8(ascii: "f"): try literal("false"); return JSONNode(.bool(false), offset: start)
        case UInt8(ascii: "n"): try literal("null"); return JSONNode(.null, offset: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(.number(try parseNumber()), offset: start)
        case UInt8(ascii: "N") where allowNonFinite, UInt8(ascii: "I") where allowNonFinite:
            return JSONNode(.number(try parseNonFinite(negative: false)), offset: start)
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw fail("NaN and Infinity are not JSON numbers")
        default:
            throw fail("unexpected character '\(Self.printable(byte))'")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "expected ':' after a key")
            skipWhitespace()
            path.append(.key(key))
            members.append(JSONMember(key: key, node: try parseValue(depth: depth + 1)))
            path.removeLast()
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "}"), "expected ',' or '}' in an object")
            return .object(members)
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        index += 1
        var elements: [JSONNode] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            path.append(.index(elements.count))
            elements.append(try parseValue(depth: depth + 1))
            path.removeLast()
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { index += 1; continue }
            try expect(UInt8(ascii: "]"), "expected ',' or ']' in an array")
            return .array(elements)
        }
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        let start = index
        index += 1
        var runStart = index
        var decoded: [UInt8] = []
        while index < bytes.count {
            // Plain bytes in one SWAR loop: strings hold megabytes of base64 images.
            index = bytes.withUnsafeBytes { JSONPlainBytes.end(in: $0, from: index) }
            guard index < bytes.count else { break }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text: String?
                if decoded.isEmpty {
                    text = String(validating: bytes[runStart..<index], as: UTF8.self)
                } else {
                    decoded.append(contentsOf: bytes[runStart..<index])
                    text = String(validating: decoded, as: UTF8.self)
                }
                guard let text else { throw JSONParseError(offset: start, message: "invalid UTF-8 in a string", path: renderedPath) }
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") {
                decoded.append(contentsOf: bytes[runStart..<index])
                index += 1
                decoded.append(contentsOf: String(try parseEscape()).utf8)
                runStart = index
            } else if byte < 0x20 {
                throw fail("control character in a string (escape it)")
            } else {
                index += 1
            }
        }
        index = start
        throw fail("unterminated string")
    }

    private mutating func parseEscape() throws(JSONParseError) -> Unicode.Scalar {
        guard let escape = peek() else { throw fail("unterminated escape") }
        index += 1
        switch escape {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try parseHex4()
            if (0xD800..<0xDC00).contains(high) {
                guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    return try loneSurrogate()
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low),
                      let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                    return try loneSurrogate()
                }
                return scalar
            }
            guard let scalar = Unicode.Scalar(high) else { return try loneSurrogate() }
            return scalar
        default:
            index -= 1
            throw fail("bad escape '\\\(Self.printable(escape))'")
        }
    }

    private func loneSurrogate() throws(JSONParseError) -> Unicode.Scalar {
        guard loneSurrogates == .replace else { throw fail("unpaired surrogate in \\u escape") }
        return "\u{FFFD}"
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek(), let digit = Self.hexValue(byte) else { throw fail("bad \\u escape") }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = index
        if peek() == UInt8(ascii: "-") {
            index += 1
            if peek() == UInt8(ascii: "I") {
                guard allowNonFinite else { throw fail("NaN and Infinity are not JSON numbers") }
                return try parseNonFinite(negative: true)
            }
        }
        guard let first = peek(), Self.isDigit(first) else { throw fail("bad number") }
        index += 1
        if first == UInt8(ascii: "0") {
            if let next = peek(), Self.isDigit(next) { throw fail("leading zeros are not allowed in numbers") }
        } else {
            while let byte = peek(), Self.isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let byte = peek(), Self.isDigit(byte) else { throw fail("bad fraction in a number") }
            while let byte = peek(), Self.isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), Self.isDigit(byte) else { throw fail("bad exponent in a number") }
            while let byte = peek(), Self.isDigit(byte) { index += 1 }
        }
        let literal = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let double = Double(literal) else { throw JSONParseError(offset: start, message: "bad number", path: renderedPath) }
        return JSONNumber(literal: literal, double: double)
    }

    private mutating func parseNonFinite(negative: Bool) throws(JSONParseError) -> JSONNumber {
        if peek() == UInt8(ascii: "N") {
            try literal("NaN")
            return JSONNumber(literal: "NaN", double: .nan)
        }
        try literal("Infinity")
        return negative ? JSONNumber(literal: "-Infinity", double: -.infinity)
            : JSONNumber(literal: "Infinity", double: .infinity)
    }

    // MARK: - Helpers

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ message: String) throws(JSONParseError) {
        guard peek() == byte else { throw fail(message) }
        index += 1
    }

    private mutating func literal(_ word: String) throws(JSONParseError) {
        let start = index
        for expected in word.utf8 {
            guard peek() == expected else {
                index = start
                throw fail("unexpected word (expected \(word))")
            }
            index += 1
        }
    }

    private func fail(_ message: String) -> JSONParseError {
        if index >= bytes.count {
            return JSONParseError(offset: bytes.count, message: "unexpected end of input: " + message, path: renderedPath)
        }
        return JSONParseError(offset: index, message: message, path: renderedPath)
    }

    /// `train.settings`, `ground_truth.points[0].x`; past `maxPathComponents`, the rest is `…`.
    private var renderedPath: String {
        var text = ""
        for component in path.prefix(Self.maxPathComponents) {
            switch component {
            case .key(let key): text += text.isEmpty ? key : ".\(key)"
            case .index(let position): text += "[\(position)]"
            }
        }
        if path.count > Self.maxPathComponents { text += "…" }
        return text
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 0x30...0x39: UInt32(byte - 0x30)
        case 0x41...0x46: UInt32(byte - 0x41 + 10)
        case 0x61...0x66: UInt32(byte - 0x61 + 10)
        default: nil
        }
    }

    private static func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}

/// Turns byte offsets into 1-based line and column numbers of a text.
package struct SourceLocator: Sendable {
    /// Offsets where each line starts.
    private let lineStarts: [Int]

    package init(_ bytes: [UInt8]) {
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == 0x0A { starts.append(offset + 1) }
        lineStarts = starts
    }

    package func line(of offset: Int) -> Int { location(of: offset).line }

    package func location(of offset: Int) -> (line: Int, column: Int) {
        // The last line start at or before the offset, by binary search.
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return (low + 1, offset - lineStarts[low] + 1)
    }
}
