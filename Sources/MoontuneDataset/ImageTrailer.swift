import MoontuneConfig
import MoontuneJSON

/// Whether an image file ends the way its format says it must, read from its last bytes only.
///
/// A header can be intact while the file was cut short (an interrupted copy or download); the
/// server would then refuse the image mid-run, or worse, train on a grey half. Every format the
/// API takes has an end marker or a declared length, so a truncated file is caught in `validate`
/// without decoding a pixel.
package enum ImageTrailer {
    /// The end of a PNG: the IEND chunk, always these 12 bytes.
    package static let pngEnd: [UInt8] = [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
    /// How far from the end a JPEG's end-of-image marker may sit: some writers pad.
    package static let slack = 1024

    /// Nil when the file ends as it should, else why it looks truncated.
    package static func problem(_ format: ImageFormat, in source: some ImageByteSource, size: Int) throws -> String? {
        switch format {
        case .png:
            let tail = try source.read(at: max(0, size - pngEnd.count), count: pngEnd.count)
            return tail == pngEnd ? nil : "truncated or damaged PNG (it does not end with an IEND chunk)"
        case .jpeg:
            let tail = try source.read(at: max(0, size - slack), count: slack)
            let ends = zip(tail, tail.dropFirst()).contains { $0 == 0xFF && $1 == 0xD9 }
            return ends ? nil : "truncated or damaged JPEG (no end-of-image marker at the end)"
        case .gif:
            let tail = try source.read(at: max(0, size - 16), count: 16)
            let last = tail.last(where: { $0 != 0 })
            return last == 0x3B ? nil : "truncated or damaged GIF (no trailer byte at the end)"
        case .webp:
            let header = try source.read(at: 4, count: 4)
            guard header.count == 4 else { return "truncated WebP header" }
            let declared = header.reversed().reduce(0) { $0 << 8 | Int($1) }
            return size >= declared + 8 ? nil : "truncated WebP (\(size) bytes where the header declares \(declared + 8))"
        }
    }
}
