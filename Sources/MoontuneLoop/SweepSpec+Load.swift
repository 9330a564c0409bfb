import Foundation
import MoontuneJSON
import MoontuneJob
import MoontuneRandom
import MoontuneStore

extension SweepSpec {
    /// The sweep file's keys.
    static let topKeys = ["name", "base", "grid", "random", "samples", "seed", "metric", "prune"]

    /// Reads and checks the sweep file at `url` and its base config's presence. Every problem names
    /// the sweep file, the line and the key.
    public static func load(from url: URL) throws(SweepError) -> SweepSpec {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SweepError(Problem(file: file, field: "", message: "cannot read the sweep file: \(JobConfig.reason(error))"))
        }
        let text = String(decoding: data, as: UTF8.self)
        let bytes = Array(data)
        let locator = SourceLocator(bytes)
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            let (line, column) = locator.location(of: error.offset)
            throw SweepError(Problem(file: file, line: line, field: error.path, message: "invalid JSON at column \(column): \(error.message)"))
        }
        var reader = SweepReader(file: file, locator: locator)
        let spec = reader.read(root, url: url, text: text)
        guard reader.problems.isEmpty, let spec else { throw SweepError(problems: reader.problems.sortedByLine()) }
        return spec
    }
}

/// Reads a sweep file's parsed JSON, collecting problems.
struct SweepReader {
    let file: String
    let locator: SourceLocator
    var problems: [Problem] = []

    mutating func add(_ field: String, _ message: String, at node: JSONNode?) {
        problems.append(Problem(file: file, line: node.map { locator.line(of: $0.offset) }, field: field, message: message))
    }

    mutating func read(_ root: JSONNode, url: URL, text: String) -> SweepSpec? {
        guard case .object(let members) = root.value else {
            add("", "a sweep file is a JSON object (name, base, grid or random, metric, prune)", at: root)
            return nil
        }
        var seen: Set<String> = []
        for member in members {
            if !SweepSpec.topKeys.contains(member.key) {
                add(member.key, "unknown key (a sweep file has \(SweepSpec.topKeys.joined(separator: ", ")))", at: member.node)
            }
            if !seen.insert(member.key).inserted { add(member.key, "given twice", at: member.node) }
        }
        let name = readName(root["name"], root: root)
        let base = readBase(root["base"], root: root, sweepURL: url)
        let metric = readMetric(root["metric"], root: root)
        let (prune, rungsLine) = readPrune(root["prune"])
        var keys: [SweepSpec.Key] = []
        var variants: [SweepSpec.Variant] = []
        switch (root["grid"], root["random"]) {
        case (let grid?, nil):
            if root["samples"] != nil { add("samples", "only with random", at: root["samples"]) }
            if root["seed"] != nil { add("seed", "only with random", at: root["seed"]) }
            (keys, variants) = readGrid(grid)
        case (nil, let random?):
            (keys, variants) = readRandom(random, root: root)
        case (nil, nil):
            add("", "a sweep needs grid (key → list of values) or random (key → values or a distribution)", at: root)
        case (_, let random?):
            add("random", "give grid or random, not both", at: random)
        }
        if variants.count > SweepSpec.maxVariants {
            add(root["grid"] != nil ? "grid" : "random", "\(variants.count) variants; at most \(SweepSpec.maxVariants)",
                at: root["grid"] ?? root["random"])
        }
        guard let name, let base, let metric, problems.isEmpty else { return nil }
        return SweepSpec(name: name, fileURL: url, fileText: text, baseURL: base.0, baseText: base.1, metric: metric, prune: prune,
                         keys: keys, variants: variants, rungsLine: rungsLine)
    }

    mutating func readName(_ node: JSONNode?, root: JSONNode) -> String? {
        guard let node else { add("name", "missing: the sweep's name (its jobs are named <name>-1, <name>-2, ...)", at: root); return nil }
        guard case .string(let name) = node.value, !name.isEmpty, name.allSatisfy(SweepSpec.nameCharacters.contains), name.count <= 100 else {
            add("name", "must be a non-empty string of letters, digits, - and _ (at most 100)", at: node)
            return nil
        }
        return name
    }

    mutating func readBase(_ node: JSONNode?, root: JSONNode, sweepURL: URL) -> (URL, String)? {
        guard let node else { add("base", "missing: the base job config, relative to the sweep file", at: root); return nil }
        guard case .string(let path) = node.value, !path.isEmpty else { add("base", "must be a path (string)", at: node); return nil }
        let url = URL(fileURLWithPath: path, relativeTo: sweepURL.deletingLastPathComponent()).standardizedFileURL
        guard let data = try? Data(contentsOf: url) else {
            add("base", "cannot read the base config \(url.path)", at: node)
            return nil
        }
        return (url, String(decoding: data, as: UTF8.self))
    }

    mutating func readMetric(_ node: JSONNode?, root: JSONNode) -> SweepMetric? {
        guard let node else { add("metric", "missing: eval/reward_mean or eval/<skill>/<metric>", at: root); return nil }
        guard case .string(let text) = node.value, let metric = SweepMetric(text) else {
            add("metric", "must be eval/reward_mean or eval/<skill>/<metric> with skill one of \(SweepMetric.skills.joined(separator: ", ")) "
                + "and metric one of \(SweepMetric.skillFigures.joined(separator: ", "))", at: node)
            return nil
        }
        return metric
    }

    mutating func readPrune(_ node: JSONNode?) -> (PruneRule?, Int?) {
        guard let node else { return (nil, nil) }
        guard case .object(let members) = node.value else { add("prune", "must be an object {type, rungs, keep}", at: node); return (nil, nil) }
        for member in members where !["type", "rungs", "keep"].contains(member.key) {
            add("prune.\(member.key)", "unknown key (prune has type, rungs, keep)", at: member.node)
        }
        if case .string("asha")? = node["type"]?.value {} else {
            add("prune.type", "must be \"asha\"", at: node["type"] ?? node)
        }
        var rungs: [Int] = []
        if let list = node["rungs"], case .array(let elements) = list.value, !elements.isEmpty {
            for (index, element) in elements.enumerated() {
                guard case .number(let number) = element.value, let rung = number.int, rung >= 1 else {
                    add("prune.rungs[\(index)]", "must be a step number ≥ 1", at: element)
                    continue
                }
                if let last = rungs.last, rung <= last { add("prune.rungs[\(index)]", "rungs must increase", at: element) }
                rungs.append(rung)
            }
        } else {
            add("prune.rungs", "must be a non-empty list of step numbers (eval steps)", at: node["rungs"] ?? node)
        }
        var keep = 0.5
        if let value = node["keep"], case .number(let number) = value.value, number.double > 0, number.double < 1 {
            keep = number.double
        } else {
            add("prune.keep", "must be a fraction between 0 and 1 (exclusive): the share of variants that go on at each rung",
                at: node["keep"] ?? node)
        }
        return (PruneRule(rungs: rungs, keep: keep), node["rungs"].map { locator.line(of: $0.offset) })
    }

    /// A swept key: a dotted config path, not `name` (the sweep names its jobs).
    mutating func checkKey(_ member: JSONMember, section: String) -> SweepSpec.Key? {
        let field = "\(section).\(member.key)"
        let parts = member.key.split(separator: ".", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(allowed.contains) }) else {
            add(field, "must be a config key as a dotted path, such as train.lr", at: member.node)
            return nil
        }
        if member.key == "name" {
            add(field, "the sweep names its jobs (<sweep name>-<i>); name cannot be swept", at: member.node)
            return nil
        }
        return SweepSpec.Key(key: member.key, field: field, line: locator.line(of: member.node.offset))
    }

    mutating func readGrid(_ grid: JSONNode) -> ([SweepSpec.Key], [SweepSpec.Variant]) {
        guard case .object(let members) = grid.value, !members.isEmpty else {
            add("grid", "must be a non-empty object: config key → list of values", at: grid)
            return ([], [])
        }
        var keys: [SweepSpec.Key] = []
        var lists: [[JSONValue]] = []
        var seen: Set<String> = []
        for member in members {
            guard let key = checkKey(member, section: "grid") else { continue }
            if !seen.insert(member.key).inserted { add(key.field, "given twice", at: member.node); continue }
            guard case .array(let elements) = member.node.value, !elements.isEmpty else {
                add(key.field, "must be a non-empty list of values", at: member.node)
                continue
            }
            keys.append(key)
            lists.append(elements.map(\.value))
        }
        guard keys.count == members.count else { return ([], []) }
        // Grid order: the first key varies slowest.
        var combinations: [[JSONValue]] = [[]]
        for list in lists {
            combinations = combinations.flatMap { prefix in list.map { prefix + [$0] } }
            if combinations.count > SweepSpec.maxVariants { break }
        }
        return (keys, combinations.enumerated().map { SweepSpec.Variant(position: $0.offset + 1, values: $0.element) })
    }
}
