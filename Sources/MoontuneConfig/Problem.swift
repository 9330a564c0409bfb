import MoontuneJSON

/// One thing wrong with the user's input, located as precisely as it can be:
/// the file, the line (when the input has lines), and the field as a JSON path.
public struct Problem: Sendable, Hashable, CustomStringConvertible {
    /// The file as the user named it (a path), or the command-line argument.
    public var file: String
    /// 1-based line, when known.
    public var line: Int?
    /// A JSON path such as `train.lr` or `ground_truth.boxes[0].x_min`; empty for the whole file.
    public var field: String
    public var message: String

    public init(file: String, line: Int? = nil, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file:line: field: message`, leaving out what is not known.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !field.isEmpty { text += "\(field): " }
        return text + message
    }
}

/// An error that carries every problem found, not just the first, one per line when printed.
public protocol ProblemListError: Error, Sendable, CustomStringConvertible {
    var problems: [Problem] { get }
    init(problems: [Problem])
}

extension ProblemListError {
    public init(_ problem: Problem) {
        self.init(problems: [problem])
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// A config that cannot be used.
public struct ConfigError: ProblemListError {
    public var problems: [Problem]

    public init(problems: [Problem]) {
        self.problems = problems
    }
}

/// A dataset, a line of it, or one of its images that cannot be used.
public struct DatasetError: ProblemListError {
    public var problems: [Problem]

    public init(problems: [Problem]) {
        self.problems = problems
    }
}

extension Array where Element == Problem {
    /// Ordered by line (problems without one first), keeping the order of each line's problems.
    package func sortedByLine() -> [Problem] {
        enumerated().sorted { ($0.element.line ?? 0, $0.offset) < ($1.element.line ?? 0, $1.offset) }.map(\.element)
    }
}
