import Foundation

/// A small, seeded generator of random bytes and of mutations of JSON text.
struct FuzzRandom {
    private var generator: SplitMixGenerator

    init(seed: UInt64) { generator = SplitMixGenerator(state: seed) }

    mutating func next() -> UInt64 { generator.next() }
    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
    mutating func bytes(count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// Tokens that break decoders in interesting ways.
    static let hostileTokens = [
        "NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "99999999999999999999999999",
        "9223372036854775808", "-9223372036854775809", "1.7976931348623157e309", "0.0000000000000000000000001",
        "null", "true", "[]", "{}", "\"\"", "\"\\ud800\"", "\"\\u0000\"", "[[[[[[[[[[]]]]]]]]]]", "\"x\"", "0", "-1", "1.5",
    ]

    /// One to four random edits of `input`.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + below(4)) {
            switch below(9) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let at = below(bytes.count)
                bytes[at] ^= UInt8(1 << below(8))
            case 1:  // insert a random byte
                bytes.insert(UInt8(truncatingIfNeeded: next()), at: below(bytes.count + 1))
            case 2 where !bytes.isEmpty:  // delete a run
                let at = below(bytes.count)
                bytes.removeSubrange(at..<min(bytes.count, at + 1 + below(8)))
            case 3:  // truncate
                bytes = Array(bytes.prefix(below(bytes.count + 1)))
            case 4:  // replace a value with a hostile token
                replaceValue(in: &bytes, with: Array(pick(Self.hostileTokens).utf8))
            case 5:  // swap the type of a value
                replaceValue(in: &bytes, with: Array(pick(["null", "[]", "{}", "\"7\"", "7", "false"]).utf8))
            case 6 where !bytes.isEmpty:  // duplicate a slice
                let at = below(bytes.count)
                let slice = bytes[at..<min(bytes.count, at + 1 + below(40))]
                bytes.insert(contentsOf: slice, at: below(bytes.count + 1))
            case 7:  // insert a structural character
                bytes.insert(pick(Array("{}[],:\"\\".utf8)), at: below(bytes.count + 1))
            default:  // insert a hostile token anywhere
                bytes.insert(contentsOf: Array(pick(Self.hostileTokens).utf8), at: below(bytes.count + 1))
            }
        }
        return bytes
    }

    /// Replaces the value after a random `:` or `[` or `,` (up to the next `,` `}` or `]`).
    private mutating func replaceValue(in bytes: inout [UInt8], with token: [UInt8]) {
        let starts = bytes.indices.filter { [UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: ",")].contains(bytes[$0]) }
        guard !starts.isEmpty else { return }
        let start = pick(starts) + 1
        var end = start
        var depth = 0
        var inString = false
        while end < bytes.count {
            let byte = bytes[end]
            if inString {
                if byte == UInt8(ascii: "\\") { end += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
                depth += 1
            } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ",") {
                if depth == 0 { break }
                if byte != UInt8(ascii: ",") { depth -= 1 }
            }
            end += 1
        }
        bytes.replaceSubrange(start..<min(end, bytes.count), with: token)
    }

    /// The input as text when it is short, else its size and start.
    static func show(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(600), as: UTF8.self)
        return bytes.count > 600 ? "\(bytes.count) bytes: \(text)…" : text
    }
}

/// SplitMix64, for reproducible fuzzing.
struct SplitMixGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
