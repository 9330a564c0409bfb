import Foundation
import MoondreamAPI
import MoontuneConfig
import MoontuneDataset
import MoontuneJSON

/// `moontune grade` (issue 24): given answers, read and checked, then scored by the job's graders.
public enum GradeAnswers {
    /// One line of the answers file: `{"example_id": ID, "answer": TEXT}` (query) or
    /// `{"example_id": ID, "output": {...}}` (point, detect, shaped as a rollout's output).
    public struct Entry: Sendable {
        public var line: Int
        /// The id as written (a string or a number), echoed in the output.
        package var idJSON: JSONValue
        public var exampleID: String
        public var answer: String?
        /// The output object's JSON text.
        public var output: String?
    }

    /// One scored answer.
    public struct Result: Sendable {
        public var entry: Entry
        public var reward: Double
        public var scores: [String: Double]

        public init(entry: Entry, reward: Double, scores: [String: Double]) {
            self.entry = entry
            self.reward = reward
            self.scores = scores
        }
    }

    /// Reads the answers file: every problem located by file, line and field.
    /// - Parameter file: the file as the user named it, for the problems (default: its path).
    public static func read(_ url: URL, file named: String? = nil) throws(DatasetError) -> [Entry] {
        let file = named ?? url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetError(Problem(file: file, field: "", message: "cannot read the answers: \(JobConfig.reason(error))"))
        }
        var entries: [Entry] = []
        var problems: [Problem] = []
        for (offset, text) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = offset + 1
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let bad = { (field: String, message: String) in problems.append(Problem(file: file, line: line, field: field, message: message)) }
            guard let node = try? JSONParser.parse(Array(trimmed.utf8)), case .object(let members) = node.value else {
                bad("", "expected a JSON object such as {\"example_id\": \"a4\", \"answer\": \"red\"}")
                continue
            }
            for member in members where !["example_id", "answer", "output"].contains(member.key) {
                bad(member.key, "unknown key (expected example_id, and answer or output)")
            }
            let idJSON = node.value["example_id"]
            let id: String
            switch idJSON {
            case .string(let text)?: id = text
            case .number(let number)? where number.int != nil: id = String(number.int!)
            default:
                bad("example_id", idJSON == nil ? "missing (the id of an example of the job's dataset)" : "expected a string or an integer")
                continue
            }
            let answer = node.value["answer"], output = node.value["output"]
            switch (answer, output) {
            case (.string(let text)?, nil):
                entries.append(Entry(line: line, idJSON: idJSON!, exampleID: id, answer: text))
            case (nil, .object?):
                entries.append(Entry(line: line, idJSON: idJSON!, exampleID: id, output: output!.serialized()))
            case (nil, nil): bad("answer", "missing: give \"answer\" (query) or \"output\" (point, detect)")
            case (_?, _?): bad("output", "give either \"answer\" or \"output\", not both")
            case (_?, nil): bad("answer", "expected a string")
            case (nil, _?): bad("output", "expected an object shaped as a rollout's output, such as {\"points\": [{\"x\": 0.5, \"y\": 0.5}]}")
            }
        }
        guard problems.isEmpty else { throw DatasetError(problems: problems) }
        return entries
    }

    /// The rollout an entry stands for; a problem when it does not fit the example's skill.
    public static func rollout(_ entry: Entry, example: Example, file: String) throws(DatasetError) -> Rollout {
        let bad = { (field: String, message: String) in DatasetError(Problem(file: file, line: entry.line, field: field, message: message)) }
        if example.skill == .query {
            guard let answer = entry.answer else { throw bad("output", "example \"\(example.id)\" is a query: give \"answer\"") }
            let raw = try? RawJSON(validating: JSONValue.members(["output": .members(["answer": .string(answer)])]).serialized())
            guard let raw else { throw bad("answer", "cannot be encoded") }
            return Rollout(raw: raw, skill: .query)
        }
        guard let output = entry.output else {
            throw bad("answer", "example \"\(example.id)\" is \(example.skill.rawValue): give \"output\" shaped as a rollout's output")
        }
        guard let raw = try? RawJSON(validating: "{\"output\":\(output)}") else { throw bad("output", "is not valid JSON") }
        let rollout = Rollout(raw: raw, skill: example.skill)
        guard rollout.output != nil else {
            let shape = example.skill == .point ? "{\"points\": [{\"x\": ..., \"y\": ...}]}" : "{\"objects\": [{\"x_min\": ..., ...}]}"
            throw bad("output", "does not read as a \(example.skill.rawValue) output (expected \(shape))")
        }
        return rollout
    }

    /// `{"example_id": ID, "reward": R, "graders": {"<name>": score, ...}}`.
    public static func jsonLine(_ result: Result, graders: [String]) -> String {
        JSONValue.members([
            "example_id": result.entry.idJSON,
            "reward": .double(result.reward),
            "graders": .object(graders.compactMap { name in
                result.scores[name].map { JSONMember(key: name, node: JSONNode(.double($0))) }
            }),
        ]).serialized()
    }
}
