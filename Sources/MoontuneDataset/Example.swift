import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI

/// One example of a dataset, as read from its line.
public struct Example: Sendable, Hashable {
    /// 0-based position among the file's examples (blank lines do not count).
    public var index: Int
    /// The line's `id`, or its line number when it has none.
    public var id: String
    /// 1-based line in the file.
    public var line: Int
    public var skill: Skill
    /// The image file, resolved; nil only for a query without an image.
    public var image: URL?
    /// What to point at or detect (point and detect).
    public var object: String?
    /// The question (query).
    public var question: String?
    /// The accepted answers (query); empty for point and detect.
    public var answers: [String]
    /// Points or boxes (point), boxes (detect); nil for query.
    public var groundTruth: GroundTruth?
    /// Regions the question (query) or object (point) refers to, sent as `spatial_refs`.
    public var spatialRefs: [[Double]]?

    public init(index: Int, id: String, line: Int, skill: Skill, image: URL?, object: String? = nil,
                question: String? = nil, answers: [String] = [], groundTruth: GroundTruth? = nil, spatialRefs: [[Double]]? = nil) {
        self.index = index
        self.id = id
        self.line = line
        self.skill = skill
        self.image = image
        self.object = object
        self.question = question
        self.answers = answers
        self.groundTruth = groundTruth
        self.spatialRefs = spatialRefs
    }
}

extension Example {
    /// The example's fields as JSON, in the dataset's key names (for the reward program).
    package var json: JSONValue {
        .members([
            "id": .string(id),
            "line": .int(line),
            "skill": .string(skill.rawValue),
            "image": image.map { .string($0.path) },
            "object": object.map(JSONValue.string),
            "question": question.map(JSONValue.string),
            "answers": skill == .query ? .list(answers.map(JSONValue.string)) : nil,
            "ground_truth": groundTruth?.json,
            "spatial_refs": spatialRefs.map { .list($0.map { .list($0.map(JSONValue.double)) }) },
        ])
    }
}

extension GroundTruth {
    /// `{"points": [...]}` or `{"boxes": [...]}`, as in a dataset line.
    package var json: JSONValue {
        switch self {
        case .points(let points):
            return .members(["points": .list(points.map { .members(["x": .double($0.x), "y": .double($0.y)]) })])
        case .boxes(let boxes):
            return .members(["boxes": .list(boxes.map {
                .members(["x_min": .double($0.xMin), "y_min": .double($0.yMin), "x_max": .double($0.xMax), "y_max": .double($0.yMax)])
            })])
        }
    }
}
