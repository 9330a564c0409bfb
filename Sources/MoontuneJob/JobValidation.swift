import MoontuneConfig
import MoontuneDataset
import MoontuneRewards
import Foundation
import MoondreamAPI

/// What checking a job found: every problem, the warnings, and a summary of the data.
/// When there are no problems, it also holds the loaded config and the opened datasets, so a
/// command that goes on to train does not read them twice.
public struct ValidationReport: Sendable {
    public var problems: [Problem]
    public var warnings: [String]
    public var summary: ValidationSummary
    /// Set when there are no problems.
    public var config: JobConfig?
    public var train: Dataset?
    public var eval: Dataset?
    /// The check was cut short by its `ScanStop`: `problems` says so, and nothing was stored.
    public var stopped = false

    public var isValid: Bool { problems.isEmpty }
}

/// The data a job would train on, for `validate` to show.
public struct ValidationSummary: Sendable, Equatable {
    public var configFile: String = ""
    public var name: String = ""
    public var rank: Int = 0
    public var trainFile: String = ""
    public var train = DatasetStats()
    public var evalFile: String?
    public var eval: DatasetStats?
    /// How many eval examples each eval uses.
    public var evalUsed: Int?
    public var steps: Int = 0
    public var groupsPerStep: Int = 0
    public var stepsPerEpoch: Int = 0
    /// The ids of the examples step 1 trains on, in group order.
    public var stepOneIDs: [String] = []

    public init() {}
}

/// Checks a job completely without calling the API or needing a key: the config, every line of
/// the train and eval sets, and every image header. `run` and `start` call it first and refuse to
/// touch the API unless it finds no problem.
///
/// With `indexCache`, a dataset whose valid entry the cache holds is not read again (see
/// `DatasetIndexCache`); `run` and `start` pass one, `validate` does not and always checks all.
///
/// With `stop`, a request made on it ends the dataset scan within a chunk (a fraction of a
/// second, not the 20 s of a first scan of a million lines): the report is then `stopped`,
/// invalid, and no index cache entry is written.
///
/// With `configText`, that is the config (a job's config as recorded at its admission) and the
/// file at `configURL` is not read; `configURL` still resolves relative paths and names the config
/// in messages.
public func validateJob(configURL: URL, configText: String? = nil, indexCache: DatasetIndexCache? = nil,
                        stop: ScanStop? = nil) -> ValidationReport {
    let decoding = JobConfig.decode(from: configURL, text: configText)
    let config = decoding.config
    var problems = decoding.problems
    var warnings = decoding.warnings
    var summary = ValidationSummary()
    summary.configFile = displayPath(configURL)
    summary.name = config.name
    summary.rank = config.rank
    summary.steps = config.train.steps
    summary.groupsPerStep = config.train.groupsPerStep

    let options = DatasetOptions(config: config)
    var train: Dataset?
    var eval: Dataset?
    if decoding.trainGiven {
        let scan = indexCache?.scan(config.data.train, options: options, stop: stop).scan
            ?? DatasetScanner(url: config.data.train, options: options, stop: stop).scan()
        if scan.stopped { return stoppedReport(problems + scan.problems, warnings: warnings, summary: summary) }
        problems += attributeFileProblems(scan.problems, to: "data.train", in: decoding, config: config)
        summary.trainFile = displayPath(config.data.train)
        summary.train = scan.stats
        if scan.problems.isEmpty { train = Dataset(scan: scan, url: config.data.train) }
    }
    if let evalURL = config.data.eval {
        let scan = indexCache?.scan(evalURL, options: options, stop: stop).scan
            ?? DatasetScanner(url: evalURL, options: options, stop: stop).scan()
        if scan.stopped { return stoppedReport(problems + scan.problems, warnings: warnings, summary: summary) }
        problems += attributeFileProblems(scan.problems, to: "data.eval", in: decoding, config: config)
        summary.evalFile = displayPath(evalURL)
        summary.eval = scan.stats
        if scan.problems.isEmpty { eval = Dataset(scan: scan, url: evalURL) }
        if let evalConfig = config.eval { summary.evalUsed = min(scan.stats.examples, evalConfig.maxExamples) }
    }

    let skills = (train?.skills ?? []).union(eval?.skills ?? [])
    if train != nil {
        let sourceFile = summary.configFile
        if config.train.settings.maxObjects != nil, !skills.contains(.detect) {
            warnings.append("\(sourceFile): train.settings.max_objects: set, but the dataset has no detect examples; it is not used")
        }
        if config.train.reasoning, !skills.contains(.query) {
            warnings.append("\(sourceFile): train.reasoning: set, but the dataset has no query examples; it is not used")
        }
    }
    if train != nil { problems += graderProblems(config, skills: skills, decoding: decoding, configURL: configURL) }  // issue 24
    if let train {
        let order = DataOrder(count: train.count, seed: config.train.seed, groupsPerStep: config.train.groupsPerStep)
        summary.stepsPerEpoch = order.stepsPerEpoch
        if train.count < config.train.groupsPerStep {
            warnings.append("\(summary.trainFile): \(train.count) examples, fewer than train.groups_per_step (\(config.train.groupsPerStep)); steps will repeat examples")
        }
        do {
            summary.stepOneIDs = try order.indices(forStep: 1).map { index throws(DatasetError) in try train.example(at: index).id }
        } catch {
            problems += error.problems
        }
    }
    let valid = problems.isEmpty
    return ValidationReport(problems: problems, warnings: warnings, summary: summary,
                            config: valid ? config : nil, train: valid ? train : nil, eval: valid ? eval : nil)
}

private func stoppedReport(_ problems: [Problem], warnings: [String], summary: ValidationSummary) -> ValidationReport {
    var report = ValidationReport(problems: problems, warnings: warnings, summary: summary)
    report.stopped = true
    return report
}

/// A problem with a dataset file as a whole (it is missing, a folder, unreadable or empty) has no
/// line of its own: it is reported at the config field that names the file, with the file's path
/// in the message, so the user sees both where the name was written and what is wrong with it.
package func attributeFileProblems(_ problems: [Problem], to field: String, in decoding: ConfigDecoding, config: JobConfig) -> [Problem] {
    guard let line = decoding.referenceLines[field] else { return problems }
    return problems.map { problem in
        guard problem.line == nil else { return problem }
        return Problem(file: config.sourceURL.path, line: line, field: field, message: "\(problem.file): \(problem.message)")
    }
}

extension ValidationSummary: CustomStringConvertible {
    /// The summary `validate` prints.
    public var description: String {
        var lines = ["config \(configFile): job \"\(name)\", rank \(rank)"]
        lines.append("train \(trainFile): \(Self.describe(train))")
        if let images = Self.describeImages(train) { lines.append("  images: \(images)") }
        if let evalFile, let eval {
            var line = "eval \(evalFile): \(Self.describe(eval))"
            if let evalUsed { line += "; each eval uses \(evalUsed)" }
            lines.append(line)
            if let images = Self.describeImages(eval) { lines.append("  images: \(images)") }
        } else {
            lines.append("eval: none")
        }
        let epochs = stepsPerEpoch > 0 ? Double(steps) / Double(stepsPerEpoch) : 0
        lines.append("steps: \(steps), \(groupsPerStep) groups each; \(stepsPerEpoch) steps per epoch (\(String(format: "%.2f", epochs)) epochs)")
        lines.append("step 1 uses: \(stepOneIDs.joined(separator: ", "))")
        return lines.joined(separator: "\n")
    }

    private static func range(_ low: Int, _ high: Int) -> String { low == high ? "\(low)" : "\(low)–\(high)" }

    package static func describe(_ stats: DatasetStats) -> String {
        let skills = Skill.allCases.compactMap { skill in stats.perSkill[skill].map { "\(skill.rawValue) \($0)" } }
        return "\(stats.examples) examples (\(skills.joined(separator: ", ")))"
    }

    package static func describeImages(_ stats: DatasetStats) -> String? {
        guard !stats.imagesByFormat.isEmpty else { return nil }
        let formats = stats.imagesByFormat.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
        var text = formats.joined(separator: ", ")
        if let minWidth = stats.minWidth, let minHeight = stats.minHeight, let maxWidth = stats.maxWidth, let maxHeight = stats.maxHeight {
            text += "; width \(range(minWidth, maxWidth)) px, height \(range(minHeight, maxHeight)) px"
        }
        return text
    }
}
