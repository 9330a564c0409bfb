import Foundation
import MoontuneJSON

/// `reward.graders` (issue 24): every problem located by file, line and field, unknown keys
/// refused per grader type, before any call.
extension ConfigDecoder {
    package static let graderCommonKeys = ["name", "type", "weight"]
    package static let graderKeys: [String: [String]] = [
        "builtin": [],
        "text_similarity": ["metric"],
        "model": ["base_url", "model", "api_key_env", "prompt", "image", "concurrency", "timeout_s", "temperature", "max_tokens"],
        "command": ["command", "timeout_s"],
    ]

    /// The line of each grader, as `reward.graders[i]`, for problems found later (with the dataset).
    package func graderLines(_ top: ObjectReader) -> [String: Int] {
        guard case .array(let elements)? = top.value("reward")?["graders"]?.value else { return [:] }
        var lines: [String: Int] = [:]
        for (position, element) in elements.enumerated() { lines["reward.graders[\(position)]"] = sink.line(of: element) }
        return lines
    }

    /// The graders of `reward.graders`; nil when the key is absent.
    package func decodeGraders(_ reward: ObjectReader) -> [GraderConfig]? {
        guard let node = reward.value("graders") else { return nil }
        let field = reward.field("graders")
        guard case .array(let elements) = node.value else {
            sink.add(field, "expected a list of graders, got \(node.value.kindName)", at: node)
            return nil
        }
        guard !elements.isEmpty else {
            sink.add(field, "must list at least one grader (or leave reward.graders out)", at: node)
            return nil
        }
        if reward.has("command") {
            sink.add(reward.field("command"), "cannot be used with reward.graders: make it a grader of type \"command\"",
                     at: reward.value("command"))
        }
        var graders: [GraderConfig] = []
        var names: Set<String> = []
        for (position, element) in elements.enumerated() {
            guard let entry = ObjectReader(element, path: "\(field)[\(position)]", sink: sink) else { continue }
            guard let grader = decodeGrader(entry) else { continue }
            guard names.insert(grader.name).inserted else {
                sink.add(entry.field("name"), "\"\(grader.name)\" names another grader too (names must be unique)",
                         at: entry.value("name"))
                continue
            }
            graders.append(grader)
        }
        return graders
    }

    private func decodeGrader(_ entry: ObjectReader) -> GraderConfig? {
        let type = entry.choice("type", GraderConfig.types)
        if entry.value("type") == nil { _ = entry.required("type", "one of \(GraderConfig.types.joined(separator: ", "))") }
        // With no valid type, only the common keys are known for sure.
        let known = Self.graderCommonKeys + (type.flatMap { Self.graderKeys[$0] } ?? Self.graderKeys.values.flatMap { $0 })
        entry.checkKeys(known)
        let name = entry.string("name", required: true)
        if let name {
            entry.check("name", !name.isEmpty && name.unicodeScalars.allSatisfy(Self.isNameCharacter),
                        "\"\(name)\" must be letters, digits, '_' and '-' (it names the column reward_\(name))")
        }
        var weight = 1.0
        if let value = entry.double("weight") { weight = value }
        let start = sink.problems.count
        let kind: GraderConfig.Kind?
        switch type ?? "" {
        case "builtin": kind = .builtin
        case "text_similarity":
            kind = entry.choice("metric", SimilarityMetric.allCases.map(\.rawValue)).flatMap(SimilarityMetric.init).map { GraderConfig.Kind.textSimilarity($0) }
            if entry.value("metric") == nil {
                _ = entry.required("metric", SimilarityMetric.allCases.map(\.rawValue).joined(separator: ", "))
            }
        case "model": kind = decodeModelGrader(entry).map { GraderConfig.Kind.model($0) }
        case "command":
            var timeout = 30.0
            if let value = entry.double("timeout_s"),
               entry.check("timeout_s", value > 0 && value <= Self.maxSeconds, "must be > 0 and at most \(Int(Self.maxSeconds)) seconds, got \(value)") {
                timeout = value
            }
            let command = entry.stringArray("command")
            if entry.value("command") == nil { _ = entry.required("command", "an array such as [\"python3\", \"reward.py\"]") }
            if let command, entry.check("command", !command.isEmpty && !command[0].isEmpty,
                                        "must be a non-empty array such as [\"python3\", \"reward.py\"]") {
                kind = .command(command, timeoutSeconds: timeout)
            } else {
                kind = nil
            }
        default: kind = nil
        }
        guard let name, let kind, sink.problems.count == start else { return nil }
        return GraderConfig(name: name, weight: weight, kind: kind)
    }

    private func decodeModelGrader(_ entry: ObjectReader) -> ModelGraderConfig? {
        let start = sink.problems.count
        var baseURL = ""
        if let base = entry.string("base_url", required: true) {
            var trimmed = base
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            let valid = URL(string: trimmed).map { ["http", "https"].contains($0.scheme?.lowercased() ?? "") && !($0.host ?? "").isEmpty } ?? false
            if entry.check("base_url", valid, "expected an http or https URL such as http://127.0.0.1:8000/v1, got \"\(base)\"") {
                baseURL = trimmed
            }
        }
        let model = entry.string("model", required: true) ?? ""
        if entry.has("model") { entry.check("model", !model.isEmpty, "must name the judge's model") }
        let prompt = entry.string("prompt", required: true) ?? ""
        if entry.has("prompt") {
            if entry.check("prompt", !prompt.isEmpty, "must be the judge's prompt, with {answer} in it") {
                let unknown = PromptTemplate.unknownPlaceholders(in: prompt)
                entry.check("prompt", unknown.isEmpty, "unknown placeholder\(unknown.count == 1 ? "" : "s") "
                    + unknown.map { "{\($0)}" }.joined(separator: ", ") + " (known: "
                    + ModelGraderConfig.placeholders.map { "{\($0)}" }.joined(separator: ", ") + ")")
            }
        }
        var result = ModelGraderConfig(baseURL: baseURL, model: model, prompt: prompt)
        if let variable = entry.string("api_key_env") {
            let valid = !variable.isEmpty && variable.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
                && !(variable.first?.isNumber ?? true)
            if entry.check("api_key_env", valid, "expected the name of an environment variable (letters, digits, '_'), not a key") {
                result.apiKeyEnv = variable
            }
        }
        if let image = entry.bool("image") { result.image = image }
        if let value = entry.int("concurrency"), entry.check("concurrency", value >= 1 && value <= Self.maxConcurrency,
                                                             "must be from 1 to \(Self.maxConcurrency), got \(value)") {
            result.concurrency = value
        }
        if let value = entry.double("timeout_s"), entry.check("timeout_s", value > 0 && value <= Self.maxSeconds,
                                                              "must be > 0 and at most \(Int(Self.maxSeconds)) seconds, got \(value)") {
            result.timeoutSeconds = value
        }
        if let value = entry.double("temperature"), entry.check("temperature", value >= 0 && value <= 2, "must be from 0 to 2, got \(value)") {
            result.temperature = value
        }
        if let value = entry.int("max_tokens"), entry.check("max_tokens", value >= 1, "must be ≥ 1, got \(value)") {
            result.maxTokens = value
        }
        return sink.problems.count == start ? result : nil
    }
}

/// The judge's prompt: `{question}`, `{object}`, `{answer}`, `{reference}` and `{skill}` filled in
/// once each where they appear; any other brace (a JSON example in the prompt) is left as written.
public enum PromptTemplate {
    /// `{name}` placeholders in `template` (names of letters, digits and `_`) that are not known.
    public static func unknownPlaceholders(in template: String) -> [String] {
        var unknown: [String] = []
        for name in placeholders(in: template) where !ModelGraderConfig.placeholders.contains(name) && !unknown.contains(name) {
            unknown.append(name)
        }
        return unknown
    }

    /// Fills in the template in one pass, so a value holding `{answer}` is not expanded again.
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var result = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            result += rest[..<open]
            let after = rest[rest.index(after: open)...]
            if let close = after.firstIndex(of: "}"), case let name = String(after[..<close]), isName(name), let value = values[name] {
                result += value
                rest = after[after.index(after: close)...]
            } else {
                result += "{"
                rest = after
            }
        }
        return result + rest
    }

    static func placeholders(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            if let close = after.firstIndex(of: "}"), case let name = String(after[..<close]), isName(name) {
                names.append(name)
                rest = after[after.index(after: close)...]
            } else {
                rest = after
            }
        }
        return names
    }

    private static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") }
    }
}
