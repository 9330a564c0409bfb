import MoontuneJSON
/// A point in normalized image coordinates.
package struct SimPoint: Sendable, Equatable {
    package var x: Double
    package var y: Double

    package var json: JSONValue { .members([("x", .canonicalDouble(x)), ("y", .canonicalDouble(y))]) }
}

/// A box in normalized image coordinates.
package struct SimBox: Sendable, Equatable {
    package var xMin: Double
    package var yMin: Double
    package var xMax: Double
    package var yMax: Double

    package var area: Double { max(0, xMax - xMin) * max(0, yMax - yMin) }

    package func contains(_ point: SimPoint) -> Bool {
        point.x >= xMin && point.x <= xMax && point.y >= yMin && point.y <= yMax
    }

    package func iou(_ other: SimBox) -> Double {
        let width = max(0, min(xMax, other.xMax) - max(xMin, other.xMin))
        let height = max(0, min(yMax, other.yMax) - max(yMin, other.yMin))
        let intersection = width * height
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }

    package var json: JSONValue {
        .members([("x_min", .canonicalDouble(xMin)), ("y_min", .canonicalDouble(yMin)), ("x_max", .canonicalDouble(xMax)), ("y_max", .canonicalDouble(yMax))])
    }
}

/// Ground truth for automatic rewards (point and detect only).
package enum SimGroundTruth: Sendable, Equatable {
    case points([SimPoint])
    case boxes([SimBox])

    package init(_ fields: Fields, skill: SimSkill) throws(APIFailure) {
        if skill == .query {
            throw .badRequest("\(fields.path) is not accepted for the query skill (point and detect only)")
        }
        try fields.rejectUnknown(["points", "boxes"])
        let hasPoints = fields.has("points"), hasBoxes = fields.has("boxes")
        guard hasPoints != hasBoxes else { throw .badRequest("\(fields.path) must have exactly one of 'points' or 'boxes'") }
        if hasPoints {
            guard skill == .point else { throw .badRequest("\(fields.name("points")) is only accepted for the point skill; detect takes boxes") }
            let elements = try fields.array("points")
            guard !elements.isEmpty else { throw .badRequest("\(fields.name("points")) must not be empty") }
            var points: [SimPoint] = []
            for (index, element) in elements.enumerated() {
                let point = try Fields(element, path: "\(fields.name("points"))[\(index)]")
                points.append(SimPoint(x: try Self.coordinate(point, "x"), y: try Self.coordinate(point, "y")))
            }
            self = .points(points)
        } else {
            let elements = try fields.array("boxes")
            if skill == .point, elements.isEmpty { throw .badRequest("\(fields.name("boxes")) must not be empty for the point skill") }
            var boxes: [SimBox] = []
            for (index, element) in elements.enumerated() {
                let box = try Fields(element, path: "\(fields.name("boxes"))[\(index)]")
                let parsed = SimBox(xMin: try Self.coordinate(box, "x_min"), yMin: try Self.coordinate(box, "y_min"),
                                    xMax: try Self.coordinate(box, "x_max"), yMax: try Self.coordinate(box, "y_max"))
                guard parsed.xMin <= parsed.xMax else { throw .badRequest("\(box.path): x_min (\(parsed.xMin)) is greater than x_max (\(parsed.xMax))") }
                guard parsed.yMin <= parsed.yMax else { throw .badRequest("\(box.path): y_min (\(parsed.yMin)) is greater than y_max (\(parsed.yMax))") }
                boxes.append(parsed)
            }
            self = .boxes(boxes)
        }
    }

    private static func coordinate(_ fields: Fields, _ name: String) throws(APIFailure) -> Double {
        guard let value = try fields.optionalDouble(name) else { throw .badRequest("\(fields.name(name)) is required") }
        guard (0...1).contains(value) else { throw .badRequest("\(fields.name(name)) must be between 0 and 1, got \(value)") }
        return value
    }
}
