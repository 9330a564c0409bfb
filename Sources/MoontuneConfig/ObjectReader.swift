import MoontuneJSON

/// Collects the problems of one input file, locating each node by line.
package final class ProblemSink {
    package let file: String
    private let locator: SourceLocator?
    /// A fixed line for every problem (a dataset line), used when there is no locator.
    private let fixedLine: Int?
    package private(set) var problems: [Problem] = []
    package private(set) var warnings: [String] = []

    package init(file: String, locator: SourceLocator?, fixedLine: Int? = nil) {
        self.file = file
        self.locator = locator
        self.fixedLine = fixedLine
    }

    package func line(of node: JSONNode?) -> Int? {
        guard let node, let locator else { return fixedLine }
        return locator.line(of: node.offset)
    }

    package func add(_ field: String, _ message: String, at node: JSONNode?) {
        problems.append(Problem(file: file, line: line(of: node), field: field, message: message))
    }

    package func warn(_ field: String, _ message: String, at node: JSONNode?) {
        warnings.append(Problem(file: file, line: line(of: node), field: field, message: message).description)
    }
}

/// Reads the members of one JSON object by key, reporting every problem to a sink instead of
/// stopping at the first. Getters return nil when a value is absent, null, or of the wrong type.
package struct ObjectReader {
    package let node: JSONNode
    /// The JSON path of this object, such as `train.settings`; empty at the top level.
    package let path: String
    package let sink: ProblemSink
    private let members: [JSONMember]

    /// Nil (with a problem reported) when `node` is not an object.
    package init?(_ node: JSONNode, path: String, sink: ProblemSink) {
        guard case .object(let members) = node.value else {
            sink.add(path, "expected an object, got \(node.value.kindName)", at: node)
            return nil
        }
        self.node = node
        self.path = path
        self.sink = sink
        self.members = members
    }

    package func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member's node; nil when absent or null.
    package func value(_ key: String) -> JSONNode? {
        guard let node = node[key] else { return nil }
        if case .null = node.value { return nil }
        return node
    }

    package func has(_ key: String) -> Bool { value(key) != nil }

    /// Reports keys that are not `known` (with a suggestion) and keys written twice.
    /// `elsewhere` names, for keys that belong to another section, that section.
    package func checkKeys(_ known: [String], aliases: [String: String] = [:], elsewhere: [String: String] = [:]) {
        var seen = Set<String>()
        for member in members {
            if !seen.insert(member.key).inserted {
                sink.add(field(member.key), "key appears more than once", at: member.node)
            }
            guard !known.contains(member.key) else { continue }
            var message = "unknown key"
            if let suggestion = KeySuggestion.suggest(member.key, known: known, aliases: aliases) {
                message += "; did you mean \"\(suggestion)\"?"
            } else if let section = elsewhere[member.key] {
                message += "; it belongs in \"\(section)\""
            }
            message += " (expected one of: \(known.joined(separator: ", ")))"
            sink.add(field(member.key), message, at: member.node)
        }
    }

    package func required(_ key: String, _ what: String) -> JSONNode? {
        guard let node = value(key) else {
            sink.add(field(key), "missing (required: \(what))", at: self.node)
            return nil
        }
        return node
    }

    // MARK: - Typed getters

    package func string(_ key: String, required: Bool = false) -> String? {
        guard let node = required ? self.required(key, "a string") : value(key) else { return nil }
        guard case .string(let text) = node.value else { return typeError(key, "a string", node) }
        return text
    }

    package func bool(_ key: String) -> Bool? {
        guard let node = value(key) else { return nil }
        guard case .bool(let flag) = node.value else { return typeError(key, "true or false", node) }
        return flag
    }

    package func int(_ key: String, required: Bool = false) -> Int? {
        guard let node = required ? self.required(key, "an integer") : value(key) else { return nil }
        guard case .number(let number) = node.value else { return typeError(key, "an integer", node) }
        guard let int = number.int else {
            let integral = number.double.isFinite && number.double.rounded() == number.double
            let outOfRange = number.isIntegerLiteral || (integral && abs(number.double) >= 9.0e15) || number.double.isInfinite
            sink.add(field(key), outOfRange ? "\(number.literal) is out of range (expected an integer within ±\(Int.max))"
                                            : "expected an integer, got \(number.literal)", at: node)
            return nil
        }
        return int
    }

    package func uint64(_ key: String) -> UInt64? {
        guard let node = value(key) else { return nil }
        guard case .number(let number) = node.value else { return typeError(key, "a non-negative integer", node) }
        guard let value = number.uint64 else {
            sink.add(field(key), "expected an integer from 0 to \(UInt64.max), got \(number.literal)", at: node)
            return nil
        }
        return value
    }

    package func double(_ key: String) -> Double? {
        guard let node = value(key) else { return nil }
        guard case .number(let number) = node.value else { return typeError(key, "a number", node) }
        // Only a literal too large for a double gets here (NaN and Infinity are not JSON).
        guard number.double.isFinite else {
            sink.add(field(key), "\(number.literal) is out of range (expected a finite number)", at: node)
            return nil
        }
        return number.double
    }

    package func object(_ key: String) -> ObjectReader? {
        guard let node = value(key) else { return nil }
        return ObjectReader(node, path: field(key), sink: sink)
    }

    /// One of `choices`, spelled exactly.
    package func choice(_ key: String, _ choices: [String]) -> String? {
        guard let text = string(key), let node = value(key) else { return nil }
        guard choices.contains(text) else {
            let quoted = choices.map { "\"\($0)\"" }.joined(separator: ", ")
            var message = "must be one of \(quoted), got \"\(text)\""
            if let near = KeySuggestion.suggest(text, known: choices) { message += "; did you mean \"\(near)\"?" }
            sink.add(field(key), message, at: node)
            return nil
        }
        return text
    }

    package func stringArray(_ key: String) -> [String]? {
        guard let node = value(key) else { return nil }
        guard case .array(let elements) = node.value else { return typeError(key, "an array of strings", node) }
        var strings: [String] = []
        for (position, element) in elements.enumerated() {
            guard case .string(let text) = element.value else {
                sink.add("\(field(key))[\(position)]", "expected a string, got \(element.value.kindName)", at: element)
                return nil
            }
            strings.append(text)
        }
        return strings
    }

    /// Reports a value out of range unless `valid` holds.
    @discardableResult
    package func check(_ key: String, _ valid: Bool, _ message: @autoclosure () -> String) -> Bool {
        if !valid { sink.add(field(key), message(), at: value(key) ?? node) }
        return valid
    }

    private func typeError<T>(_ key: String, _ expected: String, _ node: JSONNode) -> T? {
        sink.add(field(key), "expected \(expected), got \(node.value.kindName)", at: node)
        return nil
    }
}
