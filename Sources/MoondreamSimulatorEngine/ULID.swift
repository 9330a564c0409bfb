/// Universally unique lexicographically sortable identifiers, as the real API issues: 48 bits of
/// milliseconds and 80 random bits in Crockford base32 (26 characters).
package enum ULID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    package static func make(milliseconds: Int64, random: inout SimRandom) -> String {
        let time = UInt64(max(0, milliseconds)) & 0xFFFF_FFFF_FFFF
        let high = random.next() & 0xFFFF
        let low = random.next()
        var chars: [Character] = []
        chars.reserveCapacity(26)
        // 10 characters of time (50 bits, top 2 zero), then 16 of randomness (80 bits).
        for shift in stride(from: 45, through: 0, by: -5) {
            chars.append(alphabet[Int((time >> UInt64(shift)) & 31)])
        }
        for shift in stride(from: 75, through: 0, by: -5) {
            let bits: UInt64 = shift >= 64
                ? (high >> UInt64(shift - 64)) & 31
                : (shift > 59 ? ((low >> UInt64(shift)) | (high << UInt64(64 - shift))) & 31 : (low >> UInt64(shift)) & 31)
            chars.append(alphabet[Int(bits)])
        }
        return String(chars)
    }

    /// Whether `text` has the shape of a ULID.
    package static func isWellFormed(_ text: String) -> Bool {
        text.count == 26 && text.allSatisfy { alphabet.contains($0) }
    }
}
