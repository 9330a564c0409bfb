/// Finds where a run of "plain" JSON string bytes ends: bytes that are not `"`, not `\` and not
/// control characters, which JSON carries between quotes as they are. Eight bytes at a time
/// (SWAR), since the strings that matter are base64 images of hundreds of KB: measured, the
/// scanner's time on an answer of four rollouts is mostly this loop. `@inlinable` because its
/// callers (the span scanner, the client's request encoder) now live in other modules, and a call
/// per word or per byte would undo the point of it.
package enum JSONPlainBytes {
    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether any byte of the word is `"`, `\` or below 0x20.
    @inlinable @inline(__always)
    package static func hasSpecial(_ word: UInt64) -> Bool {
        // Bytes that are zero after the XOR; bytes below n (n ≤ 128) by subtraction.
        func zeroBytes(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let quote = zeroBytes(word ^ (ones &* 0x22))
        let backslash = zeroBytes(word ^ (ones &* 0x5C))
        let control = (word &- ones &* 0x20) & ~word & highs
        return (quote | backslash | control) != 0
    }

    @inlinable @inline(__always)
    package static func isSpecial(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20
    }

    /// The index of the first special or non-ASCII byte at or after `start`, or `buffer.count`:
    /// for the span scanner, which checks the UTF-8 of what it passes through (a base64 image has
    /// no byte above 0x7F, so its fast path costs one more AND per word).
    @inlinable
    package static func asciiEnd(in buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        var position = start
        while position + 8 <= buffer.count {
            let word = buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            if word & highs != 0 || hasSpecial(word) { break }
            position += 8
        }
        while position < buffer.count, buffer[position] < 0x80, !isSpecial(buffer[position]) {
            position += 1
        }
        return position
    }

    /// The index of the first special byte at or after `start`, or `buffer.count`.
    @inlinable
    package static func end(in buffer: UnsafeRawBufferPointer, from start: Int) -> Int {
        var position = start
        while position + 8 <= buffer.count {
            if hasSpecial(buffer.loadUnaligned(fromByteOffset: position, as: UInt64.self)) { break }
            position += 8
        }
        while position < buffer.count, !isSpecial(buffer[position]) {
            position += 1
        }
        return position
    }
}
