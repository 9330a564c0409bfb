import Foundation

/// Datasets for the benchmark (`make bench`): the shapes of `ShapeDataset`, optionally drowned in
/// noise so that JPEG cannot squeeze them below a target size (photos weigh a few hundred KB,
/// flat shapes a few), and a train set of any number of lines cycling over the images.
public enum BenchDataset {
    public struct Options: Sendable {
        /// Distinct images.
        public var images = 16
        /// Approximate size of each JPEG in bytes; 0 writes small clean PNGs instead.
        public var targetBytes = 0
        /// Lines of train.jsonl; 0 writes one point, one detect and one query example per image.
        public var lines = 0
        public var seed: UInt64 = 7
        public init() {}
    }

    /// Writes `images/` and `train.jsonl` into `directory`; returns the JSONL's URL.
    @discardableResult
    public static func write(to directory: URL, options: Options) throws -> URL {
        let folder = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var random = ShapeDataset.Generator(seed: options.seed)
        var templates: [String] = []
        for index in 0..<max(1, options.images) {
            let shapes = ShapeDataset.makeShapes(&random)
            let noisy = options.targetBytes > 0
            let side = noisy ? Self.side(forBytes: options.targetBytes) : 192
            var image = RGBImage(width: side, height: side, fill: RGB(245, 245, 240))
            for shape in shapes {
                let color = ShapeDataset.colors.first { $0.0 == shape.color }?.1 ?? RGB(0, 0, 0)
                let (x0, y0, x1, y1) = shape.box
                switch shape.kind {
                case "circle": image.fillEllipse(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                case "square": image.fillRect(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                default: image.fillTriangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                }
            }
            let name = String(format: "bench-%03d.%@", index, noisy ? "jpg" : "png")
            let bytes = noisy ? try noisyJPEG(image, targetBytes: options.targetBytes, seed: random.next()) : try image.pngData()
            try Data(bytes).write(to: folder.appendingPathComponent(name))
            templates += ShapeDataset.examples(id: Self.idMark, image: "images/\(name)", shapes: shapes,
                                               skills: ["point", "detect", "query"])
        }
        let url = directory.appendingPathComponent("train.jsonl")
        try writeLines(to: url, templates: templates, count: options.lines > 0 ? options.lines : templates.count)
        return url
    }

    /// Stands for the id in a line template; every written line gets a unique id.
    static let idMark = "@ID@"

    /// Cycles over the templates, giving line i the id `b<i>`, through a buffered stream.
    static func writeLines(to url: URL, templates: [String], count: Int) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: url.path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
        defer { try? handle.close() }
        let parts = templates.map { template -> ([UInt8], [UInt8]) in
            let pieces = template.components(separatedBy: "\(idMark)")
            return (Array((pieces.first ?? "").utf8), Array(pieces.dropFirst().joined(separator: idMark).utf8) + [0x0A])
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        for line in 0..<count {
            let (head, tail) = parts[line % parts.count]
            buffer += head
            buffer += Array("b\(line)".utf8)
            buffer += tail
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
    }

    /// A square side whose noisy JPEG lands near `bytes`: about 0.6 bytes per pixel at the
    /// noise and quality used, measured.
    static func side(forBytes bytes: Int) -> Int {
        max(64, Int((Double(bytes) / 0.6).squareRoot()))
    }

    /// The image with uniform noise added, its amplitude halved or grown until the JPEG's size
    /// is within 10% of `targetBytes` (or eight tries have passed).
    public static func noisyJPEG(_ image: RGBImage, targetBytes: Int, seed: UInt64, quality: Int = 90) throws -> [UInt8] {
        var low = 0.0, high = 128.0, amplitude = 48.0
        var best: [UInt8] = []
        for _ in 0..<8 {
            let bytes = try withNoise(image, amplitude: amplitude, seed: seed).jpegData(quality: quality)
            if best.isEmpty || abs(bytes.count - targetBytes) < abs(best.count - targetBytes) { best = bytes }
            if abs(bytes.count - targetBytes) <= targetBytes / 10 { break }
            if bytes.count < targetBytes { low = amplitude } else { high = amplitude }
            amplitude = (low + high) / 2
        }
        return best
    }

    /// Every channel of every pixel moved by up to ±`amplitude`, from a seeded stream.
    public static func withNoise(_ image: RGBImage, amplitude: Double, seed: UInt64) -> RGBImage {
        var random = ShapeDataset.Generator(seed: seed)
        var noisy = image
        let span = UInt64(max(0, Int(amplitude)) * 2 + 1)
        for index in noisy.pixels.indices {
            let shift = Int(random.next() % span) - Int(amplitude)
            noisy.pixels[index] = UInt8(clamping: Int(noisy.pixels[index]) + shift)
        }
        return noisy
    }
}
