import Crypto
import Foundation
import MoontuneJSON
import MoontuneJob
import MoontuneStore

/// A sweep's variant that passed admission: its job name, params and the job's admission.
public struct AdmittedVariant: Sendable {
    public var jobName: String
    public var position: Int
    /// `[[key, value], ...]`, as `SweepMembership.paramsJSON`.
    public var paramsJSON: String
    public var paramsText: String
    public var admission: Admission
}

/// A sweep that passed admission: every variant valid, in order.
public struct AdmittedSweep: Sendable {
    public var spec: SweepSpec
    public var variants: [AdmittedVariant]
    /// SHA-256 of the sweep's meaning: its name, metric, prune rule and every variant's config
    /// (canonical JSON), so that the same sweep submitted again is known, however its files are laid out.
    public var digest: String

    /// The sweep's record.
    public func record(now: Int64) -> SweepRecord {
        SweepRecord(name: spec.name, digest: digest, fileText: spec.fileText, filePath: spec.fileURL.path, metric: spec.metric.description,
                    prune: spec.prune, createdAtMs: now)
    }
}

/// The one way a sweep is admitted (issue 25): the base config with every variant applied goes
/// through `JobAdmission` (config, datasets, the record's training settings), and the pruning
/// rule is checked against each variant's eval cadence. Problems name the sweep file and the key
/// (a variant's own value) or the base config and its field (a problem every variant shares,
/// reported once).
public enum SweepAdmission {
    public static func admit(_ spec: SweepSpec, databasePath: String) async throws(SweepError) -> AdmittedSweep {
        var problems: [Problem] = []
        var seen: Set<Problem> = []
        var variants: [AdmittedVariant] = []
        func report(_ problem: Problem) {
            if seen.insert(problem).inserted { problems.append(problem) }
        }
        // A swept value's problem, once for all the variants that share it.
        var keyed: [KeyedProblem] = []
        for variant in spec.variants {
            let name = spec.jobName(variant)
            let text: String
            do {
                text = try spec.configText(variant)
            } catch {
                report(error.problem)
                continue
            }
            do {
                let admission = try await JobAdmission.admit(.text(text, at: spec.baseURL), databasePath: databasePath)
                for problem in spec.cadenceProblems(admission.config, variant: variant) { report(problem) }
                variants.append(AdmittedVariant(jobName: name, position: variant.position, paramsJSON: spec.paramsJSON(variant),
                                                paramsText: spec.paramsText(variant), admission: admission))
            } catch SessionError.invalid(let found) {
                for problem in found {
                    guard var located = spec.keyed(problem, variant: variant) else {
                        report(spec.locate(problem))
                        continue
                    }
                    if let index = keyed.firstIndex(where: { $0.sameCause(as: located) }) {
                        keyed[index].variants.append(name)
                    } else {
                        located.variants = [name]
                        keyed.append(located)
                    }
                }
            } catch {
                report(Problem(file: spec.fileURL.path, field: "name",
                               message: "variant \(name) (\(spec.paramsText(variant))): \(error)"))
            }
        }
        problems = keyed.map(\.problem).sortedByLine() + problems
        guard problems.isEmpty, let digest = spec.digest else { throw SweepError(problems: problems) }
        return AdmittedSweep(spec: spec, variants: variants, digest: digest)
    }
}

extension SweepSpec {
    /// SHA-256 of the sweep's meaning: its name, metric, prune rule and every variant's config
    /// (canonical JSON), so that the same sweep is known again however its files are laid out.
    /// Nil when a variant's config cannot be written (a problem admission reports).
    public var digest: String? {
        var canonical: [JSONValue] = []
        for variant in variants {
            guard let text = try? configText(variant), let node = try? JSONParser.parse(Array(text.utf8)) else { return nil }
            canonical.append(node.value)
        }
        var meaning: [JSONMember] = [
            JSONMember(key: "name", node: JSONNode(.string(name))),
            JSONMember(key: "metric", node: JSONNode(.string(metric.description))),
            JSONMember(key: "variants", node: JSONNode(.list(canonical))),
        ]
        if let prune {
            meaning.append(JSONMember(key: "prune", node: JSONNode(.members(["rungs": .list(prune.rungs.map { .int($0) }),
                                                                               "keep": .double(prune.keep)]))))
        }
        return SHA256.hash(data: Data(JSONValue.object(meaning).serialized(canonical: true).utf8)).hexString
    }
}

extension SweepSpec {
    /// A variant's validation problem about one of its swept keys, located in the sweep file (the
    /// key's line) with the value; nil for a problem about anything else.
    func keyed(_ problem: Problem, variant: Variant) -> KeyedProblem? {
        for (key, value) in zip(keys, variant.values)
        where problem.field == key.key || problem.field.hasPrefix(key.key + ".") || problem.field.hasPrefix(key.key + "[") {
            return KeyedProblem(key: key, value: value.serialized(), field: problem.field, message: problem.message, sweepFile: fileURL.path,
                                base: baseURL.lastPathComponent)
        }
        return nil
    }

    /// A problem every variant shares (not about a swept key): it keeps its file and field, with
    /// its line in the base config (a variant's text is the base's, rewritten on one line).
    func locate(_ problem: Problem) -> Problem {
        var located = problem
        located.message += " (every variant of sweep \(fileURL.lastPathComponent), from its base \(baseURL.lastPathComponent))"
        if problem.file == baseURL.path { located.line = baseLine(of: problem.field) }
        return located
    }

    /// The line of a dotted field in the base config, or nil when the base does not have it.
    func baseLine(of field: String) -> Int? {
        let bytes = Array(baseText.utf8)
        guard !field.isEmpty, var node = try? JSONParser.parse(bytes) else { return nil }
        for part in field.split(separator: ".") {
            let key = String(part.split(separator: "[").first ?? part)
            guard let child = node[key] else { return SourceLocator(bytes).line(of: node.offset) }
            node = child
        }
        return SourceLocator(bytes).line(of: node.offset)
    }

    /// The pruning rule against a variant's config: its metric needs evals, and each rung must be
    /// an eval step (a multiple of `eval.every_steps`, or the last step) within `train.steps`.
    func cadenceProblems(_ config: JobConfig, variant: Variant) -> [Problem] {
        let job = "variant \(jobName(variant))"
        guard let prune else { return [] }
        guard let eval = config.eval, config.data.eval != nil else {
            return [Problem(file: fileURL.path, line: rungsLine, field: "prune",
                            message: "pruning reads the metric \(metric) from evals, and \(job) has none: the base needs eval and data.eval")]
        }
        var problems: [Problem] = []
        for rung in prune.rungs where rung > config.train.steps || (rung % max(1, eval.everySteps) != 0 && rung != config.train.steps) {
            problems.append(Problem(file: fileURL.path, line: rungsLine, field: "prune.rungs",
                                    message: "rung \(rung) is not an eval step of \(job) (eval.every_steps = \(eval.everySteps), "
                                        + "train.steps = \(config.train.steps))"))
        }
        return problems
    }
}

/// A problem with a swept key's value, and the variants that have that value.
struct KeyedProblem {
    var key: SweepSpec.Key
    var value: String
    /// The field the config reader named (the key, or a path inside its value).
    var field: String
    var message: String
    var sweepFile: String
    var base: String
    var variants: [String] = []

    func sameCause(as other: KeyedProblem) -> Bool {
        key == other.key && value == other.value && field == other.field && message == other.message
    }

    var problem: Problem {
        let which = variants.count == 1 ? "variant \(variants[0])" : "variants \(variants.joined(separator: ", "))"
        return Problem(file: sweepFile, line: key.line, field: key.field,
                       message: "\(message) (\(which): \(key.key) = \(value)" + (field == key.key ? ")" : "; at \(field) in the base \(base))"))
    }
}
