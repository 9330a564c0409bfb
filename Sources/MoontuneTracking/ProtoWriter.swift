/// The few protobuf encodings TensorBoard's messages need, by hand: varints, 32- and 64-bit
/// fixed fields, and length-delimited fields (strings, bytes, nested messages).
package struct ProtoWriter {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    mutating func key(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    package mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    package mutating func double(_ field: Int, _ value: Double) {
        key(field, 1)
        bytes += TFRecord.littleEndian(value.bitPattern)
    }

    package mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        bytes += TFRecord.littleEndian(value.bitPattern)
    }

    package mutating func data(_ field: Int, _ value: [UInt8]) {
        key(field, 2)
        varint(UInt64(value.count))
        bytes += value
    }

    package mutating func string(_ field: Int, _ value: String) { data(field, Array(value.utf8)) }

    package mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var nested = ProtoWriter()
        build(&nested)
        data(field, nested.bytes)
    }
}

/// Reads the fields of a protobuf message: enough to read back what `ProtoWriter` wrote.
package struct ProtoReader {
    package enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    /// The message's fields in order; nil for a malformed message.
    package static func fields(_ bytes: ArraySlice<UInt8>) -> [(field: Int, value: Value)]? {
        var out: [(field: Int, value: Value)] = []
        var index = bytes.startIndex
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.endIndex, shift < 64 {
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        while index < bytes.endIndex {
            guard let key = varint() else { return nil }
            let field = Int(key >> 3)
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                out.append((field, .varint(value)))
            case 1:
                guard bytes.endIndex - index >= 8 else { return nil }
                let value = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[index + $1]) << ($1 * 8) }
                index += 8
                out.append((field, .fixed64(value)))
            case 5:
                guard bytes.endIndex - index >= 4 else { return nil }
                let value = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[index + $1]) << ($1 * 8) }
                index += 4
                out.append((field, .fixed32(value)))
            case 2:
                guard let length = varint(), length <= UInt64(bytes.endIndex - index) else { return nil }
                out.append((field, .bytes(bytes[index..<index + Int(length)])))
                index += Int(length)
            default:
                return nil
            }
        }
        return out
    }
}
