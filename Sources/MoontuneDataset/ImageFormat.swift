import MoontuneConfig
import MoontuneJSON

/// The image formats the API takes, recognised by their magic bytes, never by a file's extension.
public enum ImageFormat: String, Sendable, Hashable, CaseIterable, Comparable {
    case jpeg, png, webp, gif

    public var mimeType: String { "image/\(rawValue)" }

    public static func < (lhs: ImageFormat, rhs: ImageFormat) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The format whose signature starts `header`, if any (12 bytes are enough for all four).
    public static func sniff(_ header: some Collection<UInt8>) -> ImageFormat? {
        let bytes = Array(header.prefix(12))
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: Array("GIF87a".utf8)) || bytes.starts(with: Array("GIF89a".utf8)) { return .gif }
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return .webp
        }
        return nil
    }
}

/// What the header of an image says, read without decoding the pixels.
public struct ImageInfo: Sendable, Hashable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// The file's size in bytes.
    public var byteCount: Int

    public init(format: ImageFormat, width: Int, height: Int, byteCount: Int) {
        self.format = format
        self.width = width
        self.height = height
        self.byteCount = byteCount
    }
}

/// Random access to the first bytes of an image: a file or bytes in memory.
package protocol ImageByteSource {
    /// Up to `count` bytes at `offset`; fewer at the end.
    func read(at offset: Int, count: Int) throws -> [UInt8]
}

extension Array: ImageByteSource where Element == UInt8 {
    package func read(at offset: Int, count: Int) throws -> [UInt8] {
        guard offset < self.count else { return [] }
        return Array(self[offset..<Swift.min(self.count, offset + count)])
    }
}

/// Why an image header could not be read.
package struct ImageHeaderError: Error, Sendable {
    package var message: String
}

/// Width and height from image headers.
package enum ImageHeader {
    /// Reads the dimensions of an image of the given format.
    package static func dimensions(of format: ImageFormat, in source: some ImageByteSource) throws -> (width: Int, height: Int) {
        let size: (width: Int, height: Int)
        switch format {
        case .png: size = try png(source)
        case .gif: size = try gif(source)
        case .webp: size = try webp(source)
        case .jpeg: size = try jpeg(source)
        }
        guard size.width > 0, size.height > 0 else {
            throw ImageHeaderError(message: "the \(format.rawValue) header gives a size of \(size.width)×\(size.height)")
        }
        return size
    }

    private static func png(_ source: some ImageByteSource) throws -> (width: Int, height: Int) {
        let bytes = try source.read(at: 0, count: 24)
        guard bytes.count == 24, bytes[12..<16].elementsEqual("IHDR".utf8) else {
            throw ImageHeaderError(message: "truncated or damaged PNG header (no IHDR chunk)")
        }
        return (bigEndian(bytes, 16, 4), bigEndian(bytes, 20, 4))
    }

    private static func gif(_ source: some ImageByteSource) throws -> (width: Int, height: Int) {
        let bytes = try source.read(at: 0, count: 10)
        guard bytes.count == 10 else { throw ImageHeaderError(message: "truncated GIF header") }
        return (Int(bytes[6]) | Int(bytes[7]) << 8, Int(bytes[8]) | Int(bytes[9]) << 8)
    }

    private static func webp(_ source: some ImageByteSource) throws -> (width: Int, height: Int) {
        let bytes = try source.read(at: 0, count: 30)
        guard bytes.count >= 30 else { throw ImageHeaderError(message: "truncated WebP header") }
        let chunk = String(decoding: bytes[12..<16], as: UTF8.self)
        switch chunk {
        case "VP8 ":
            // Lossy: a key frame starts with the start code 9d 01 2a, then 14-bit sizes.
            guard bytes[23] == 0x9D, bytes[24] == 0x01, bytes[25] == 0x2A else {
                throw ImageHeaderError(message: "damaged WebP (VP8) header")
            }
            return (littleEndian(bytes, 26, 2) & 0x3FFF, littleEndian(bytes, 28, 2) & 0x3FFF)
        case "VP8L":
            guard bytes[20] == 0x2F else { throw ImageHeaderError(message: "damaged WebP (VP8L) header") }
            let bits = littleEndian(bytes, 21, 4)
            return ((bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1)
        case "VP8X":
            return (littleEndian(bytes, 24, 3) + 1, littleEndian(bytes, 27, 3) + 1)
        default:
            throw ImageHeaderError(message: "unknown WebP chunk \"\(chunk)\"")
        }
    }

    /// Walks the JPEG segments up to the first start-of-frame marker, reading only segment
    /// headers, so large EXIF blocks are skipped rather than read.
    private static func jpeg(_ source: some ImageByteSource) throws -> (width: Int, height: Int) {
        var offset = 2
        for _ in 0..<10_000 {
            let marker = try source.read(at: offset, count: 2)
            guard marker.count == 2, marker[0] == 0xFF else {
                throw ImageHeaderError(message: "damaged JPEG: no frame header found")
            }
            let code = marker[1]
            if code == 0xFF { offset += 1; continue }                        // fill byte
            if code == 0xD8 || (0xD0...0xD7).contains(code) || code == 0x01 { offset += 2; continue }
            if code == 0xD9 || code == 0xDA { throw ImageHeaderError(message: "damaged JPEG: no frame header before the image data") }
            let header = try source.read(at: offset + 2, count: 7)
            guard header.count >= 2 else { throw ImageHeaderError(message: "truncated JPEG header") }
            let length = bigEndian(header, 0, 2)
            let isFrame = (0xC0...0xCF).contains(code) && code != 0xC4 && code != 0xC8 && code != 0xCC
            if isFrame {
                guard header.count == 7 else { throw ImageHeaderError(message: "truncated JPEG frame header") }
                return (bigEndian(header, 5, 2), bigEndian(header, 3, 2))
            }
            guard length >= 2 else { throw ImageHeaderError(message: "damaged JPEG segment length") }
            offset += 2 + length
        }
        throw ImageHeaderError(message: "damaged JPEG: too many segments before the frame header")
    }

    private static func bigEndian(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> Int {
        bytes[offset..<offset + count].reduce(0) { $0 << 8 | Int($1) }
    }

    private static func littleEndian(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> Int {
        bytes[offset..<offset + count].reversed().reduce(0) { $0 << 8 | Int($1) }
    }
}
