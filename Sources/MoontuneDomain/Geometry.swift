/// A point in normalized image coordinates (0–1).
public struct Point: Codable, Sendable, Hashable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// A bounding box in normalized image coordinates (0–1).
public struct Box: Codable, Sendable, Hashable {
    public var xMin: Double
    public var yMin: Double
    public var xMax: Double
    public var yMax: Double

    public init(xMin: Double, yMin: Double, xMax: Double, yMax: Double) {
        self.xMin = xMin
        self.yMin = yMin
        self.xMax = xMax
        self.yMax = yMax
    }

    enum CodingKeys: String, CodingKey {
        case xMin = "x_min", yMin = "y_min", xMax = "x_max", yMax = "y_max"
    }

    public var width: Double { max(0, xMax - xMin) }
    public var height: Double { max(0, yMax - yMin) }
    public var area: Double { width * height }

    public func contains(_ point: Point) -> Bool {
        point.x >= xMin && point.x <= xMax && point.y >= yMin && point.y <= yMax
    }

    /// Intersection over union; 0 when either box is empty.
    public func iou(_ other: Box) -> Double {
        let ix = max(0, min(xMax, other.xMax) - max(xMin, other.xMin))
        let iy = max(0, min(yMax, other.yMax) - max(yMin, other.yMin))
        let intersection = ix * iy
        let union = area + other.area - intersection
        return union > 0 ? intersection / union : 0
    }
}

/// The skills the tuning API trains.
public enum Skill: String, Codable, Sendable, Hashable, CaseIterable {
    case query, point, detect
}
