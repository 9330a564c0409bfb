import Foundation

/// The stored form of an eval example's prediction and ground truth (the `prediction_json` and
/// `truth_json` of `eval_examples`, and `export --examples`): one shape written by the loop and
/// `compare`, read by the report's gallery.
///
/// A prediction is `{"points": [{"x", "y"}...]}` (point), `{"boxes": [{"x_min", "y_min",
/// "x_max", "y_max"}...]}` (detect) or `{"answer": "..."}` (query), in normalized coordinates.
public struct ExamplePrediction: Codable, Sendable, Equatable {
    public var points: [Point]?
    public var boxes: [Box]?
    public var answer: String?

    public init(points: [Point]? = nil, boxes: [Box]? = nil, answer: String? = nil) {
        self.points = points
        self.boxes = boxes
        self.answer = answer
    }

    /// The prediction a decoded rollout output carries.
    public init(_ output: RolloutOutput) {
        switch output {
        case .point(let points): self.init(points: points)
        case .detect(let boxes): self.init(boxes: boxes)
        case .query(let answer, _): self.init(answer: answer)
        }
    }

    /// Compact JSON with sorted keys.
    public var json: String { ExampleJSON.encode(self) }

    /// Nil for text that is not a prediction object.
    public init?(json: String?) {
        guard let json, let value = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = value
    }
}

/// What an eval example asked for and expected: the `object` with its `points` or `boxes`
/// (point, detect), or the `question` with its accepted `answers` (query).
public struct ExampleTruth: Codable, Sendable, Equatable {
    public var object: String?
    public var question: String?
    public var answers: [String]?
    public var points: [Point]?
    public var boxes: [Box]?

    public init(object: String? = nil, question: String? = nil, answers: [String]? = nil, groundTruth: GroundTruth? = nil) {
        self.object = object
        self.question = question
        self.answers = answers
        switch groundTruth {
        case .points(let points)?: self.points = points
        case .boxes(let boxes)?: self.boxes = boxes
        case nil: break
        }
    }

    public var json: String { ExampleJSON.encode(self) }

    public init?(json: String?) {
        guard let json, let value = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = value
    }
}

enum ExampleJSON {
    static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
