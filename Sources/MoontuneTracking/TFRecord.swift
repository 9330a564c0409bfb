/// TFRecord framing, the container of TensorBoard's event files: per record, the data's length
/// (UInt64, little-endian), the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C
/// of the data.
package enum TFRecord {
    /// One record's bytes.
    package static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndian(UInt64(data.count))
        out += length
        out += littleEndian(CRC32C.masked(length))
        out += data
        out += littleEndian(CRC32C.masked(data))
        return out
    }

    /// The records of a file's bytes, up to the first one that is torn or corrupt (a write cut
    /// short by a kill), and how many bytes the whole records take: the rest is never trusted.
    package static func read(_ bytes: [UInt8]) -> (records: [ArraySlice<UInt8>], validLength: Int) {
        var records: [ArraySlice<UInt8>] = []
        var offset = 0
        while bytes.count - offset >= 16 {
            let lengthBytes = bytes[offset..<offset + 8]
            guard readUInt32(bytes, at: offset + 8) == CRC32C.masked(lengthBytes) else { break }
            let length = readUInt64(bytes, at: offset)
            guard length <= UInt64(bytes.count - offset - 16) else { break }
            let start = offset + 12
            let end = start + Int(length)
            let data = bytes[start..<end]
            guard readUInt32(bytes, at: end) == CRC32C.masked(data) else { break }
            records.append(data)
            offset = end + 4
        }
        return (records, offset)
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << ($1 * 8) }
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << ($1 * 8) }
    }
}
