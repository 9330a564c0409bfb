/// Rollout outputs read straight from their JSON for the shapes the API sends, without a
/// `JSONDecoder` per rollout (eight decoder runs per answer of four rollouts were most of the
/// client's time on each answer). Anything unusual (escapes, duplicate keys, numbers out of range)
/// returns nil and takes the `JSONDecoder` path, so the result is always the one it would give.
extension RolloutOutput {
    /// The output, or nil when this path is not sure (the caller then uses `decode(_:skill:)`).
    static func decodeDirectly(_ raw: RawJSON, skill: Skill) -> RolloutOutput? {
        // JSONDecoder refuses a document with invalid UTF-8 anywhere, keys included.
        guard raw.isValidUTF8, let members = raw.uniqueMembers() else { return nil }
        switch skill {
        case .query:
            guard let answer = members["answer"]?.plainStringValue else { return nil }
            guard let reasoning = members["reasoning"] else { return .query(answer: answer, reasoning: nil) }
            if reasoning.isNull { return .query(answer: answer, reasoning: nil) }
            return reasoning.plainStringValue.map { .query(answer: answer, reasoning: $0) }
        case .point:
            guard let values = members["points"]?.arrayElements() else { return nil }
            var points: [Point] = []
            for value in values {
                guard let fields = value.uniqueMembers(), let x = fields["x"]?.finiteNumber, let y = fields["y"]?.finiteNumber else {
                    return nil
                }
                points.append(Point(x: x, y: y))
            }
            return .point(points)
        case .detect:
            guard let values = members["objects"]?.arrayElements() else { return nil }
            var boxes: [Box] = []
            for value in values {
                guard let fields = value.uniqueMembers(), let xMin = fields["x_min"]?.finiteNumber, let yMin = fields["y_min"]?.finiteNumber,
                      let xMax = fields["x_max"]?.finiteNumber, let yMax = fields["y_max"]?.finiteNumber else { return nil }
                boxes.append(Box(xMin: xMin, yMin: yMin, xMax: xMax, yMax: yMax))
            }
            return .detect(boxes)
        }
    }
}

extension RawJSON {
    /// An object's members by key; nil for anything but an object, or one that repeats a key.
    func uniqueMembers() -> [String: RawJSON]? {
        guard isObject, let members = objectMembers() else { return nil }
        var byKey: [String: RawJSON] = [:]
        for member in members {
            guard byKey.updateValue(member.value, forKey: member.key) == nil else { return nil }
        }
        return byKey
    }

    /// Whether the text is valid UTF-8 (the scanner checks JSON syntax only).
    var isValidUTF8: Bool {
        bytes.allSatisfy { $0 < 0x80 } || String(validating: bytes, as: UTF8.self) != nil
    }

    /// A string without escapes, in valid UTF-8; nil otherwise.
    var plainStringValue: String? {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        let inner = bytes[1..<(bytes.count - 1)]
        guard !inner.contains(UInt8(ascii: "\\")) else { return nil }
        return String(validating: inner, as: UTF8.self)
    }

    /// A plain decimal number (`-?digits(.digits)?`, no exponent, at most 32 characters) as a
    /// `Double`; nil for anything else, including forms JSONDecoder treats in its own way.
    var finiteNumber: Double? {
        guard bytes.count <= 32 else { return nil }
        var index = bytes.startIndex
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits() -> Int {
            let start = index
            while index < bytes.endIndex, bytes[index].isDigit { index += 1 }
            return index - start
        }
        guard digits() > 0 else { return nil }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        guard index == bytes.endIndex, let value = Double(String(decoding: bytes, as: UTF8.self)), value.isFinite else { return nil }
        return value
    }
}
