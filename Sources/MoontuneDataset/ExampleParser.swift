import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI

/// Reads one dataset line into an `Example`, reporting every problem of the line with its field.
package struct ExampleParser: Sendable {
    package static let knownKeys = ["id", "image", "skill", "object", "question", "answer", "ground_truth", "spatial_refs"]

    /// The dataset file as the user named it, for problems.
    package let file: String
    package let images: ImageLocator
    /// When set, query answers are checked for this comparison (a valid regex, a number).
    package let queryMatch: QueryMatch?

    /// The same parser, with other image rules' locator.
    package func with(images: ImageLocator) -> ExampleParser {
        ExampleParser(file: file, images: images, queryMatch: queryMatch)
    }

    /// The example, or nil when the line has problems (all of them added to `sink`); and the
    /// line's image when its path is acceptable, even if other fields have problems, so the
    /// file can be checked too.
    package func parse(_ bytes: [UInt8], line: Int, index: Int, sink: ProblemSink) -> (example: Example?, image: URL?) {
        let before = sink.problems.count
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes, allowNonFinite: true)
        } catch {
            sink.add(error.path, "invalid JSON at column \(error.offset + 1): \(error.message)", at: nil)
            return (nil, nil)
        }
        guard let object = ObjectReader(root, path: "", sink: sink) else { return (nil, nil) }
        reportNearMisses(object)

        let id = parseID(object, line: line)
        guard let skillName = object.string("skill", required: true) else { return (nil, nil) }
        guard let skill = Skill(rawValue: skillName) else {
            var message = "unknown skill \"\(skillName)\" (expected point, detect or query)"
            if let near = KeySuggestion.suggest(skillName, known: Skill.allCases.map(\.rawValue)) {
                message += "; did you mean \"\(near)\"?"
            }
            sink.add("skill", message, at: object.value("skill"))
            return (nil, nil)
        }
        var example = Example(index: index, id: id ?? "", line: line, skill: skill, image: nil)
        switch skill {
        case .point, .detect:
            example.object = nonEmptyString(object, "object", "what to \(skill == .point ? "point at" : "detect")")
            example.image = image(object, required: true)
            example.groundTruth = groundTruth(object, skill: skill)
            if skill == .point { example.spatialRefs = spatialRefs(object) }
        case .query:
            example.question = nonEmptyString(object, "question", "the question to ask")
            example.image = image(object, required: false)
            example.answers = answers(object)
            example.spatialRefs = spatialRefs(object)
        }
        if skill == .detect, let node = object.value("spatial_refs") {
            sink.add("spatial_refs", "detect takes no spatial_refs (query and point do)", at: node)
        }
        return (sink.problems.count == before ? example : nil, example.image)
    }

    // MARK: - Fields

    /// Keys that are probably misspellings of ours. Other unknown keys are the user's own metadata.
    private func reportNearMisses(_ object: ObjectReader) {
        guard case .object(let members) = object.node.value else { return }
        for member in members where !Self.knownKeys.contains(member.key) {
            if let near = KeySuggestion.suggest(member.key, known: Self.knownKeys) {
                object.sink.add(member.key, "unknown key; did you mean \"\(near)\"?", at: member.node)
            }
        }
    }

    private func parseID(_ object: ObjectReader, line: Int) -> String? {
        guard let node = object.value("id") else { return String(line) }
        switch node.value {
        case .string(let text) where !text.isEmpty: return text
        case .number(let number) where number.int != nil: return number.literal
        case .string: object.sink.add("id", "must not be empty", at: node)
        default: object.sink.add("id", "expected a string or an integer, got \(node.value.kindName)", at: node)
        }
        return nil
    }

    private func nonEmptyString(_ object: ObjectReader, _ key: String, _ what: String) -> String? {
        guard let text = object.string(key, required: true) else { return nil }
        guard text.contains(where: { !$0.isWhitespace }) else {
            object.sink.add(key, "must not be empty (\(what))", at: object.value(key))
            return nil
        }
        return text
    }

    private func image(_ object: ObjectReader, required: Bool) -> URL? {
        guard let path = object.string("image", required: required) else { return nil }
        switch images.resolve(path) {
        case .failure(let error):
            object.sink.add("image", error.message, at: object.value("image"))
            return nil
        case .success(let url):
            if let refusal = images.checkLink(url, written: path) {
                object.sink.add("image", refusal.message, at: object.value("image"))
                return nil
            }
            return url
        }
    }

    private func answers(_ object: ObjectReader) -> [String] {
        guard let node = object.required("answer", "a string or a list of accepted strings") else { return [] }
        var accepted: [(String, String)] = []
        switch node.value {
        case .string(let text):
            accepted = [("answer", text)]
        case .array(let elements) where !elements.isEmpty:
            for (position, element) in elements.enumerated() {
                guard case .string(let text) = element.value else {
                    object.sink.add("answer[\(position)]", "expected a string, got \(element.value.kindName)", at: element)
                    continue
                }
                accepted.append(("answer[\(position)]", text))
            }
        case .array:
            object.sink.add("answer", "must list at least one accepted answer", at: node)
        default:
            object.sink.add("answer", "expected a string or a list of strings, got \(node.value.kindName)", at: node)
        }
        for (field, text) in accepted {
            if let problem = QueryAnswerCheck.problem(with: text, for: queryMatch) {
                object.sink.add(field, problem, at: node)
            }
        }
        return accepted.map(\.1)
    }

    /// `spatial_refs`: regions the question or object refers to, each `[x, y]` or
    /// `[x1, y1, x2, y2]` in normalized coordinates (the live service's request field).
    private func spatialRefs(_ object: ObjectReader) -> [[Double]]? {
        guard let node = object.value("spatial_refs") else { return nil }
        guard case .array(let elements) = node.value else {
            object.sink.add("spatial_refs", "expected an array of [x, y] or [x1, y1, x2, y2], got \(node.value.kindName)", at: node)
            return nil
        }
        var refs: [[Double]] = []
        var failed = false
        for (position, element) in elements.enumerated() {
            let field = "spatial_refs[\(position)]"
            guard case .array(let numbers) = element.value, numbers.count == 2 || numbers.count == 4 else {
                object.sink.add(field, "expected [x, y] or [x1, y1, x2, y2]", at: element)
                failed = true
                continue
            }
            var values: [Double] = []
            for number in numbers {
                guard case .number(let value) = number.value, value.double.isFinite, (0...1).contains(value.double) else {
                    object.sink.add(field, "coordinates must be numbers from 0 to 1", at: number)
                    failed = true
                    break
                }
                values.append(value.double)
            }
            if values.count == numbers.count {
                if values.count == 4, values[0] > values[2] || values[1] > values[3] {
                    object.sink.add(field, "x1 ≤ x2 and y1 ≤ y2 expected", at: element)
                    failed = true
                } else {
                    refs.append(values)
                }
            }
        }
        return failed || refs.isEmpty ? nil : refs
    }

    private func groundTruth(_ object: ObjectReader, skill: Skill) -> GroundTruth? {
        let expected = skill == .point ? "an object with \"points\" or \"boxes\"" : "an object with \"boxes\" (may be empty)"
        guard let node = object.required("ground_truth", expected),
              let truth = ObjectReader(node, path: "ground_truth", sink: object.sink) else { return nil }
        let hasPoints = truth.has("points"), hasBoxes = truth.has("boxes")
        switch (skill, hasPoints, hasBoxes) {
        case (.point, true, true):
            truth.sink.add("ground_truth", "give either \"points\" or \"boxes\", not both", at: node)
            return nil
        case (.detect, true, _):
            truth.sink.add("ground_truth.points", "detect takes boxes only", at: truth.value("points"))
            return nil
        case (_, false, false):
            truth.sink.add("ground_truth", "missing points or boxes (required: \(expected))", at: node)
            return nil
        case (.point, true, false):
            guard let points = list(truth, "points", CoordinateReader.point), !points.isEmpty else { return nil }
            return .points(points)
        default:
            guard let boxes = list(truth, "boxes", CoordinateReader.box) else { return nil }
            if skill == .point, boxes.isEmpty {
                truth.sink.add("ground_truth.boxes", "must list at least one box for point", at: truth.value("boxes"))
                return nil
            }
            return .boxes(boxes)
        }
    }

    private func list<T>(_ truth: ObjectReader, _ key: String,
                         _ read: (JSONNode, String, ProblemSink) -> T?) -> [T]? {
        guard let node = truth.value(key) else { return nil }
        guard case .array(let elements) = node.value else {
            truth.sink.add(truth.field(key), "expected an array, got \(node.value.kindName)", at: node)
            return nil
        }
        if key == "points", elements.isEmpty {
            truth.sink.add(truth.field(key), "must list at least one point", at: node)
            return nil
        }
        var values: [T] = []
        var failed = false
        for (position, element) in elements.enumerated() {
            if let value = read(element, "\(truth.field(key))[\(position)]", truth.sink) { values.append(value) } else { failed = true }
        }
        return failed ? nil : values
    }
}

/// Normalized coordinates: finite numbers in 0–1, boxes with min ≤ max.
package enum CoordinateReader {
    package static func point(_ node: JSONNode, _ path: String, _ sink: ProblemSink) -> Point? {
        guard let object = ObjectReader(node, path: path, sink: sink) else { return nil }
        let x = coordinate(object, "x"), y = coordinate(object, "y")
        guard let x, let y else { return nil }
        return Point(x: x, y: y)
    }

    package static func box(_ node: JSONNode, _ path: String, _ sink: ProblemSink) -> Box? {
        guard let object = ObjectReader(node, path: path, sink: sink) else { return nil }
        let xMin = coordinate(object, "x_min"), yMin = coordinate(object, "y_min")
        let xMax = coordinate(object, "x_max"), yMax = coordinate(object, "y_max")
        guard let xMin, let yMin, let xMax, let yMax else { return nil }
        var valid = true
        if xMin > xMax {
            sink.add(object.field("x_min"), "x_min (\(xMin)) is greater than x_max (\(xMax))", at: node)
            valid = false
        }
        if yMin > yMax {
            sink.add(object.field("y_min"), "y_min (\(yMin)) is greater than y_max (\(yMax))", at: node)
            valid = false
        }
        return valid ? Box(xMin: xMin, yMin: yMin, xMax: xMax, yMax: yMax) : nil
    }

    private static func coordinate(_ object: ObjectReader, _ key: String) -> Double? {
        guard let node = object.required(key, "a number from 0 to 1") else { return nil }
        guard case .number(let number) = node.value else {
            object.sink.add(object.field(key), "expected a number from 0 to 1, got \(node.value.kindName)", at: node)
            return nil
        }
        let value = number.double
        guard value.isFinite else {
            object.sink.add(object.field(key), "\(number.literal) is not a coordinate (expected a number from 0 to 1)", at: node)
            return nil
        }
        guard (0...1).contains(value) else {
            object.sink.add(object.field(key), "\(number.literal) is outside 0–1 (coordinates are normalized by the image size)", at: node)
            return nil
        }
        return value
    }
}
