import Foundation
import MoontuneJSON
import MoontuneJob
import MoontuneStore

/// A sweep file (issue 25), read: its name, its base config, its variants in order, its metric and
/// its pruning rule. `SweepSpec.load` reports every problem at once, each naming the sweep file,
/// the line and the key.
///
/// ```json
/// {"name": "lr-sweep", "base": "job.json",
///  "grid": {"train.lr": [0.001, 0.004], "train.rollouts_per_group": [4, 8]},
///  "metric": "eval/reward_mean", "prune": {"type": "asha", "rungs": [10, 20], "keep": 0.5}}
/// ```
public struct SweepSpec: Sendable {
    public var name: String
    public var fileURL: URL
    public var fileText: String
    /// The base config (relative to the sweep file) and its text as read.
    public var baseURL: URL
    public var baseText: String
    public var metric: SweepMetric
    public var prune: PruneRule?
    /// The swept keys, in the file's order, with where each is written.
    public var keys: [Key]
    public var variants: [Variant]
    /// The line of `prune.rungs` (for problems found once the variants are known).
    var rungsLine: Int?

    public struct Key: Sendable, Equatable {
        /// The config key, dotted (`train.lr`).
        public var key: String
        /// `grid.train.lr` or `random.train.lr`: the field a problem names.
        public var field: String
        public var line: Int
    }

    public struct Variant: Sendable {
        /// 1-based: the job is `<sweep name>-<position>`.
        public var position: Int
        /// Each key's value, in `keys` order.
        package var values: [JSONValue]
    }

    /// Job names are the sweep's name and a number, so the name follows the job name rule.
    static let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    /// More variants than this is a mistake (a grid of typos), not a sweep.
    public static let maxVariants = 1000

    public func jobName(_ variant: Variant) -> String { "\(name)-\(variant.position)" }

    /// The variant's params: `[[key, value], ...]` in key order, as `SweepMembership.paramsJSON`.
    public func paramsJSON(_ variant: Variant) -> String {
        JSONValue.list(zip(keys, variant.values).map { .list([.string($0.key), $1]) }).serialized()
    }

    /// The params as `key=value` for messages.
    public func paramsText(_ variant: Variant) -> String {
        zip(keys, variant.values).map { "\($0.key)=\($1.serialized())" }.joined(separator: " ")
    }

    /// The base config with the variant's values and its job name written in: the text the job is
    /// admitted with (and recorded, and run by `serve`), resolved against the base's folder.
    /// Throws a problem naming the key when the base has a non-object on the key's path.
    package func configText(_ variant: Variant) throws(SweepProblem) -> String {
        var root: JSONNode
        do {
            root = try JSONParser.parse(Array(baseText.utf8))
        } catch {
            throw SweepProblem(Problem(file: baseURL.path, line: SourceLocator(Array(baseText.utf8)).line(of: error.offset),
                                       field: error.path, message: "invalid JSON: \(error.message)"))
        }
        guard case .object = root.value else {
            throw SweepProblem(Problem(file: baseURL.path, line: 1, field: "", message: "the base config must be a JSON object"))
        }
        root = root.setting(["name"], to: .string(jobName(variant)))!
        for (key, value) in zip(keys, variant.values) {
            guard let updated = root.setting(key.key.split(separator: ".").map(String.init), to: value) else {
                throw SweepProblem(Problem(file: fileURL.path, line: key.line, field: key.field,
                                           message: "the base config \(baseURL.lastPathComponent) has a value on this key's path that is "
                                               + "not an object, so \(key.key) cannot be set"))
            }
            root = updated
        }
        return root.value.serialized()
    }
}

/// One problem with a sweep, as an error.
public struct SweepProblem: Error, Sendable {
    public var problem: Problem
    public init(_ problem: Problem) { self.problem = problem }
}

/// Every problem with a sweep file, one per line.
public struct SweepError: ProblemListError {
    public var problems: [Problem]
    public init(problems: [Problem]) { self.problems = problems }
}

extension JSONNode {
    /// This object with `path` set to `value`, the objects on the way created when missing; nil
    /// when a value on the way is not an object.
    package func setting(_ path: [String], to value: JSONValue) -> JSONNode? {
        guard let first = path.first else { return JSONNode(value, offset: offset) }
        guard case .object(var members) = self.value else { return nil }
        if let index = members.lastIndex(where: { $0.key == first }) {
            guard let child = members[index].node.setting(Array(path.dropFirst()), to: value) else { return nil }
            members[index].node = child
            // A repeated key keeps its last value (as the config reader does): the others go.
            members = members.enumerated().filter { $0.element.key != first || $0.offset == index }.map(\.element)
        } else {
            guard let child = JSONNode(.object([])).setting(Array(path.dropFirst()), to: value) else { return nil }
            members.append(JSONMember(key: first, node: child))
        }
        return JSONNode(.object(members), offset: offset)
    }
}
