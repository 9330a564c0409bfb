/// FNV-1a, 64-bit: a stable hash (unlike Swift's per-process seeded `Hasher`), so policy keys
/// and base policies are the same in every run.
struct FNV1a: Sendable {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    private(set) var value: UInt64

    init(basis: UInt64 = FNV1a.offsetBasis) { value = basis }

    mutating func combine<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* Self.prime
        }
    }

    mutating func combine(_ text: String) {
        combine(bytes: text.utf8)
        // A separator keeps ("ab", "c") apart from ("a", "bc").
        combine(bytes: CollectionOfOne(0xFF))
    }

    mutating func combine(_ number: UInt64) {
        withUnsafeBytes(of: number.littleEndian) { combine(bytes: $0) }
    }

    static func hash(_ parts: String...) -> UInt64 {
        var hasher = FNV1a()
        for part in parts { hasher.combine(part) }
        return hasher.value
    }

    /// A 128-bit hex digest of JSON meaning: two FNV-1a passes with different bases over the
    /// canonical text. Not cryptographic; it only has to catch edits, not resist forgers who can
    /// read this source.
    static func digest(of value: JSONValue) -> String {
        let text = value.canonicalText.utf8
        var first = FNV1a()
        var second = FNV1a(basis: 0x6c62_272e_07bb_0142)
        first.combine(bytes: text)
        second.combine(bytes: text)
        return hex(first.value) + hex(second.value)
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
