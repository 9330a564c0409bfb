import Foundation
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

/// A fresh folder under the system's temporary directory, removed when the test ends.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("moontune-job-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> URL {
        try write(name, Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let file = path(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: file)
        return file
    }

    /// Writes a PNG of the given size.
    @discardableResult
    func png(_ name: String, width: Int = 8, height: Int = 6) throws -> URL {
        try write(name, TestImages.png(width: width, height: height))
    }

    /// A config file with the given JSON, plus a train set `train.jsonl` when `lines` is given.
    @discardableResult
    func config(_ json: String, name: String = "job.json") throws -> URL {
        try write(name, json)
    }

    /// A dataset of `lines` (joined with newlines, with a final newline).
    @discardableResult
    func dataset(_ lines: [String], name: String = "train.jsonl") throws -> URL {
        try write(name, lines.joined(separator: "\n") + "\n")
    }
}

/// Tiny images built in code, byte by byte.
enum TestImages {
    /// A valid PNG (8-bit grey, stored deflate blocks).
    static func png(width: Int, height: Int, shade: UInt8 = 0x80) -> [UInt8] {
        var raw: [UInt8] = []
        for _ in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: repeatElement(shade, count: width))
        }
        var ihdr = be32(width) + be32(height)
        ihdr += [8, 0, 0, 0, 0]  // depth 8, greyscale, deflate, no filter, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", ihdr) + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }

    /// The start of a baseline JPEG: SOI, APP segments holding `padding` bytes, then SOF0.
    static func jpeg(width: Int, height: Int, padding: Int = 14) -> [UInt8] {
        var bytes: [UInt8] = [0xFF, 0xD8]
        var left = padding
        while left > 0 {
            let size = min(left, 60_000)
            bytes += [0xFF, 0xE1] + be16(size + 2) + [UInt8](repeating: 0x4A, count: size)
            left -= size
        }
        bytes += [0xFF, 0xC4] + be16(4) + [0, 0]  // a DHT segment, which is not a frame
        bytes += [0xFF, 0xC0] + be16(11) + [8] + be16(height) + be16(width) + [1, 1, 0x11, 0]
        bytes += [0xFF, 0xD9]
        return bytes
    }

    static func gif(width: Int, height: Int) -> [UInt8] {
        Array("GIF89a".utf8) + le16(width) + le16(height) + [0, 0, 0, 0x3B]
    }

    /// Lossy WebP (VP8 key frame).
    static func webpLossy(width: Int, height: Int) -> [UInt8] {
        var payload: [UInt8] = [0, 0, 0, 0x9D, 0x01, 0x2A] + le16(width) + le16(height)
        payload += [0, 0]
        return riff(chunk: "VP8 ", payload)
    }

    /// Lossless WebP (VP8L): 14-bit width − 1 and height − 1.
    static func webpLossless(width: Int, height: Int) -> [UInt8] {
        let bits = UInt32(width - 1) | UInt32(height - 1) << 14
        let payload: [UInt8] = [0x2F] + (0..<4).map { UInt8(truncatingIfNeeded: bits >> ($0 * 8)) } + [0, 0, 0, 0, 0]
        return riff(chunk: "VP8L", payload)
    }

    /// Extended WebP (VP8X): 24-bit width − 1 and height − 1.
    static func webpExtended(width: Int, height: Int) -> [UInt8] {
        let payload: [UInt8] = [0, 0, 0, 0] + le24(width - 1) + le24(height - 1) + [0, 0]
        return riff(chunk: "VP8X", payload)
    }

    private static func riff(chunk name: String, _ payload: [UInt8]) -> [UInt8] {
        let body = Array("WEBP".utf8) + Array(name.utf8) + le32(payload.count) + payload
        return Array("RIFF".utf8) + le32(body.count) + body
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return be32(data.count) + typed + be32(Int(crc32(typed)))
    }

    private static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let count = min(65_535, data.count - offset)
            let last: UInt8 = offset + count == data.count ? 1 : 0
            out += [last] + le16(count) + le16(~count & 0xFFFF)
            out += data[offset..<offset + count]
            offset += count
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return out + be32(Int(b << 16 | a))
    }

    private static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    static func be32(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
    static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
    static func le24(_ value: Int) -> [UInt8] { [0, 8, 16].map { UInt8(truncatingIfNeeded: value >> $0) } }
    static func le32(_ value: Int) -> [UInt8] { [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: value >> $0) } }
}

/// JSON lines for datasets.
enum Line {
    static func point(_ id: String, image: String = "img.png", object: String = "the dot", x: Double = 0.5, y: Double = 0.5) -> String {
        #"{"id": "\#(id)", "image": "\#(image)", "skill": "point", "object": "\#(object)", "ground_truth": {"points": [{"x": \#(x), "y": \#(y)}]}}"#
    }

    static func detect(_ id: String, image: String = "img.png", boxes: String = #"[{"x_min": 0.1, "y_min": 0.2, "x_max": 0.4, "y_max": 0.6}]"#) -> String {
        #"{"id": "\#(id)", "image": "\#(image)", "skill": "detect", "object": "cars", "ground_truth": {"boxes": \#(boxes)}}"#
    }

    static func query(_ id: String, image: String = "img.png", answer: String = #""red""#) -> String {
        #"{"id": "\#(id)", "image": "\#(image)", "skill": "query", "question": "What color?", "answer": \#(answer)}"#
    }
}

/// A minimal valid config around `train.jsonl`, with extra JSON members spliced into `train`.
func minimalConfig(train extra: String = "", top: String = "") -> String {
    let trainExtra = extra.isEmpty ? "" : ", " + extra
    let topExtra = top.isEmpty ? "" : ", " + top
    return #"{"name": "job-1", "rank": 16, "data": {"train": "train.jsonl"}, "train": {"steps": 10\#(trainExtra)}\#(topExtra)}"#
}

extension Array where Element == Problem {
    /// The problems' descriptions, for readable failures.
    var lines: [String] { map(\.description) }
}
