import MoontuneJSON
/// FNV-1a, 64-bit: a stable hash (unlike Swift's per-process seeded `Hasher`), so policy keys
/// and base policies are the same in every run.
package struct FNV1a: Sendable {
    package static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    package static let prime: UInt64 = 0x0000_0100_0000_01b3

    package private(set) var value: UInt64

    package init(basis: UInt64 = FNV1a.offsetBasis) { value = basis }

    package mutating func combine<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        // Images make these inputs megabytes long: loop over contiguous storage when there is one.
        let done: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            var hash = value
            for index in 0..<buffer.count {
                hash = (hash ^ UInt64(buffer[index])) &* Self.prime
            }
            value = hash
        }
        if done == nil {
            for byte in bytes {
                value = (value ^ UInt64(byte)) &* Self.prime
            }
        }
    }

    package mutating func combine(_ text: String) {
        var text = text
        text.withUTF8 { combine(bytes: $0) }
        // A separator keeps ("ab", "c") apart from ("a", "bc").
        combine(bytes: CollectionOfOne(0xFF))
    }

    package static func hash(_ parts: String...) -> UInt64 {
        var hasher = FNV1a()
        for part in parts { hasher.combine(part) }
        return hasher.value
    }

    /// A 128-bit hex digest of JSON meaning: two FNV-1a passes with different bases over the
    /// canonical text. Not cryptographic; it only has to catch edits, not resist forgers who can
    /// read this source.
    package static func digest(of value: JSONValue) -> String {
        var text = value.canonicalText
        var first = FNV1a.offsetBasis, second: UInt64 = 0x6c62_272e_07bb_0142
        text.withUTF8 { buffer in
            for index in 0..<buffer.count {
                let byte = UInt64(buffer[index])
                first = (first ^ byte) &* prime
                second = (second ^ byte) &* prime
            }
        }
        return hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
