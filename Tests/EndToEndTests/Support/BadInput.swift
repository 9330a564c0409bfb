import Foundation
import MoondreamSimulator
import MoontuneImaging
import Testing

/// One malformed input for `moontune run`: the files to write, and where the refusal must point.
struct BadInput: Sendable, CustomTestStringConvertible {
    /// Names the case's files: `c07.json`, `d12.jsonl`.
    var id: String
    var title: String
    /// Writes the case's files; returns the config argument to give `run`.
    var prepare: @Sendable (CaseFolder) throws -> String
    /// The file the message must name (its last path components, as written in the case).
    var file: String
    /// The line the message must name; nil only when the file itself cannot be read.
    var line: Int?
    /// The field the message must name; nil when the problem is the whole line or file (broken
    /// JSON outside any member, a line too long to read, a missing file).
    var field: String?
    /// What the message must say.
    var fragment: String

    var testDescription: String { "\(id): \(title)" }

    /// `file:line: field: ` as `Problem` writes it.
    var location: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let field { text += "\(field): " }
        return text
    }

    /// The lines of `output` that name this case's location (the file as a whole path component).
    func linesNamingLocation(in output: String) -> [Substring] {
        output.split(separator: "\n").filter { line in
            guard let range = line.range(of: location) else { return false }
            if range.lowerBound == line.startIndex { return true }
            let before = line[line.index(before: range.lowerBound)]
            return before == "/" || before == " "
        }
    }
}

/// The folder a case writes into (the prior job's workspace), with helpers for configs and datasets.
struct CaseFolder: Sendable {
    let directory: URL
    let baseURL: String

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        let target = url(name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: target)
    }

    func write(_ name: String, _ text: String) throws { try write(name, Array(text.utf8)) }

    /// `ID.json`: the prior job's config with some members changed.
    func config(_ id: String, _ edit: (inout ConfigText) -> Void = { _ in }) throws -> String {
        var config = ConfigText()
        edit(&config)
        try write("\(id).json", config.text(baseURL: baseURL))
        return "\(id).json"
    }

    /// `ID.jsonl`: two good lines, then `bad` on line 3; and `ID.json`, the prior job's config
    /// training on it.
    func dataset(_ id: String, bad: String, folder: String = "", edit: (inout ConfigText) -> Void = { _ in }) throws -> String {
        try datasetBytes(id, bad: Array(bad.utf8), folder: folder, edit: edit)
    }

    func datasetBytes(_ id: String, bad: [UInt8], folder: String = "", edit: (inout ConfigText) -> Void = { _ in }) throws -> String {
        let name = folder.isEmpty ? "\(id).jsonl" : "\(folder)/\(id).jsonl"
        let good = [Self.queryLine("\(id)-1"), Self.queryLine("\(id)-2")].joined(separator: "\n") + "\n"
        try write(name, Array(good.utf8) + bad + Array("\n".utf8))
        return try config(id) {
            $0.data = #"{"train": "\#(name)"}"#
            edit(&$0)
        }
    }

    /// A valid query line, which needs no image.
    static func queryLine(_ id: String) -> String {
        #"{"id": "\#(id)", "skill": "query", "question": "What shape is shown?", "answer": "circle"}"#
    }

    /// A point line; `truth` is the raw JSON of `ground_truth`, and `extra` raw members.
    static func pointLine(_ id: String, image: String = "images/shape-000.png", object: String = #""the shape""#,
                          truth: String = #"{"points": [{"x": 0.5, "y": 0.5}]}"#) -> String {
        #"{"id": "\#(id)", "image": "\#(image)", "skill": "point", "object": \#(object), "ground_truth": \#(truth)}"#
    }

    static func detectLine(_ id: String, truth: String) -> String {
        #"{"id": "\#(id)", "image": "images/shape-000.png", "skill": "detect", "object": "shapes", "ground_truth": \#(truth)}"#
    }

    /// A real JPEG, made by libjpeg.
    static func jpeg() throws -> [UInt8] {
        var image = RGBImage(width: 96, height: 64, fill: RGB(250, 250, 250))
        image.fillRect(x0: 0.1, y0: 0.1, x1: 0.6, y1: 0.7, color: RGB(200, 30, 30))
        return try image.jpegData()
    }
}
