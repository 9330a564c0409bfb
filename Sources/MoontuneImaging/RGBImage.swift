import CImageCodecs

/// An 8-bit RGB raster, row-major, no padding.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, fill: RGB = RGB(255, 255, 255)) {
        self.width = max(1, width)
        self.height = max(1, height)
        var pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = fill.r
            pixels[index + 1] = fill.g
            pixels[index + 2] = fill.b
        }
        self.pixels = pixels
    }

    init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int) -> RGB {
        get {
            let index = (y * width + x) * 3
            return RGB(pixels[index], pixels[index + 1], pixels[index + 2])
        }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let index = (y * width + x) * 3
            pixels[index] = newValue.r
            pixels[index + 1] = newValue.g
            pixels[index + 2] = newValue.b
        }
    }
}

public struct RGB: Sendable, Hashable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }
}

/// A codec failure, with libpng's or libjpeg's own words.
public struct ImageCodecError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension RGBImage {
    /// PNG bytes, through the system's libpng.
    public func pngData() throws -> [UInt8] {
        try Self.call { out, size, message in
            mt_png_encode_rgb(pixels, Int32(width), Int32(height), &out, &size, message, 256)
        }
    }

    /// JPEG bytes at `quality` (1–100), through the system's libjpeg.
    public func jpegData(quality: Int = 90) throws -> [UInt8] {
        try Self.call { out, size, message in
            mt_jpeg_encode_rgb(pixels, Int32(width), Int32(height), Int32(min(max(quality, 1), 100)), &out, &size, message, 256)
        }
    }

    /// Decodes a PNG or JPEG (by its magic bytes).
    public static func decode(_ data: [UInt8]) throws -> RGBImage {
        var rgb: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0
        var height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let isPNG = data.starts(with: [0x89, 0x50, 0x4E, 0x47])
        let isJPEG = data.starts(with: [0xFF, 0xD8, 0xFF])
        guard isPNG || isJPEG else { throw ImageCodecError(description: "only PNG and JPEG images can be decoded") }
        let status = data.withUnsafeBufferPointer { buffer in
            isPNG ? mt_png_decode_rgb(buffer.baseAddress, buffer.count, &rgb, &width, &height, &message, 256)
                  : mt_jpeg_decode_rgb(buffer.baseAddress, buffer.count, &rgb, &width, &height, &message, 256)
        }
        guard status == 0, let rgb else {
            throw ImageCodecError(description: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { mt_free(rgb) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: rgb, count: count)))
    }

    private static func call(_ body: (inout UnsafeMutablePointer<UInt8>?, inout Int, UnsafeMutablePointer<CChar>) -> Int32) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -9 }
            return body(&out, &size, base)
        }
        guard status == 0, let out else {
            throw ImageCodecError(description: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { mt_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}
