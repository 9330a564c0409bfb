import Foundation
import MoontuneRandom

/// A small dataset of generated images of simple shapes, with exact ground truth for point,
/// detect and query: the demo's data (`make run`) and the tests' data. No download needed.
public enum ShapeDataset {
    public struct Options: Sendable {
        public var images = 16
        public var evalImages = 8
        public var size = 192
        public var seed: UInt64 = 7
        /// Which skills to write examples for.
        public var skills: Set<String> = ["point", "detect", "query"]
        /// "png" or "jpeg".
        public var format = "png"
        public init() {}
    }

    struct Shape {
        var kind: String
        var color: String
        var box: (Double, Double, Double, Double)
    }

    static let colors: [(String, RGB)] = [
        ("red", RGB(220, 40, 40)), ("green", RGB(40, 170, 60)), ("blue", RGB(40, 80, 220)), ("yellow", RGB(230, 200, 30)),
    ]
    static let kinds = ["circle", "square", "triangle"]

    /// Writes `images/`, `train.jsonl` and `eval.jsonl` (unless there are no eval images) into
    /// `directory`. Returns the two JSONL paths.
    @discardableResult
    public static func write(to directory: URL, options: Options = Options()) throws -> (train: URL, eval: URL) {
        let fileManager = FileManager.default
        let images = directory.appendingPathComponent("images")
        try fileManager.createDirectory(at: images, withIntermediateDirectories: true)
        var random = Generator(seed: options.seed)
        var train: [String] = []
        var eval: [String] = []
        for index in 0..<(options.images + options.evalImages) {
            let shapes = makeShapes(&random)
            var image = RGBImage(width: options.size, height: options.size, fill: RGB(245, 245, 240))
            for shape in shapes {
                let color = colors.first { $0.0 == shape.color }?.1 ?? RGB(0, 0, 0)
                let (x0, y0, x1, y1) = shape.box
                switch shape.kind {
                case "circle": image.fillEllipse(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                case "square": image.fillRect(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                default: image.fillTriangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color)
                }
            }
            let ext = options.format == "jpeg" ? "jpg" : "png"
            let name = String(format: "shape-%03d.\(ext)", index)
            let bytes = options.format == "jpeg" ? try image.jpegData() : try image.pngData()
            try Data(bytes).write(to: images.appendingPathComponent(name))
            let lines = examples(id: String(format: "s%03d", index), image: "images/\(name)", shapes: shapes, skills: options.skills)
            if index < options.images { train += lines } else { eval += lines }
        }
        let trainURL = directory.appendingPathComponent("train.jsonl")
        let evalURL = directory.appendingPathComponent("eval.jsonl")
        try (train.joined(separator: "\n") + "\n").write(to: trainURL, atomically: true, encoding: .utf8)
        if options.evalImages > 0 {
            try (eval.joined(separator: "\n") + "\n").write(to: evalURL, atomically: true, encoding: .utf8)
        }
        return (trainURL, evalURL)
    }

    static func makeShapes(_ random: inout Generator) -> [Shape] {
        let count = 1 + Int(random.next() % 2)
        var shapes: [Shape] = []
        var usedKinds: Set<String> = []
        while shapes.count < count {
            let kind = kinds[Int(random.next() % UInt64(kinds.count))]
            guard !usedKinds.contains(kind) else { continue }
            usedKinds.insert(kind)
            let size = 0.22 + random.unit() * 0.12
            // Non-overlapping halves: the first shape on the left, the second on the right.
            let left = shapes.isEmpty ? 0.05 : 0.55
            let x0 = left + random.unit() * (0.4 - size)
            let y0 = 0.05 + random.unit() * (0.9 - size)
            let color = colors[Int(random.next() % UInt64(colors.count))].0
            shapes.append(Shape(kind: kind, color: color, box: (x0, y0, x0 + size, y0 + size)))
        }
        return shapes
    }

    static func examples(id: String, image: String, shapes: [Shape], skills: Set<String>) -> [String] {
        var lines: [String] = []
        guard let first = shapes.first else { return lines }
        func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
        func box(_ shape: Shape) -> [String: Double] {
            ["x_min": round3(shape.box.0), "y_min": round3(shape.box.1), "x_max": round3(shape.box.2), "y_max": round3(shape.box.3)]
        }
        if skills.contains("point") {
            let center = ["x": round3((first.box.0 + first.box.2) / 2), "y": round3((first.box.1 + first.box.3) / 2)]
            lines.append(json(["id": "\(id)-point", "image": image, "skill": "point", "object": "the \(first.color) \(first.kind)",
                               "ground_truth": ["points": [center]]]))
        }
        if skills.contains("detect") {
            let target = shapes.last ?? first
            lines.append(json(["id": "\(id)-detect", "image": image, "skill": "detect", "object": "\(target.kind)s",
                               "ground_truth": ["boxes": shapes.filter { $0.kind == target.kind }.map(box)]]))
        }
        if skills.contains("query") {
            lines.append(json(["id": "\(id)-query", "image": image, "skill": "query", "question": "What color is the \(first.kind)?",
                               "answer": first.color]))
        }
        return lines
    }

    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The package's one seeded generator (`x / 2⁵³` and `x × 2⁻⁵³` are the same Double).
    typealias Generator = SplitMix64
}
