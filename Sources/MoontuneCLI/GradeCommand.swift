import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import NIOPosix

/// `moontune grade CONFIG --answers FILE` (issue 24): scores given answers with the job's graders,
/// as training would, and calls no tuning endpoint. Users debug a judge's prompt or a weight in
/// seconds, before a run.
struct GradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grade",
        abstract: "Score given answers with a job's graders, without calling the tuning API.",
        discussion: """
            Each line of --answers is {"example_id": ID, "answer": TEXT} (query) or \
            {"example_id": ID, "output": {...}} (point, detect, shaped as a rollout's output), the \
            id of an example of the job's train or eval set. Prints the reward and each grader's \
            score per line; with --json, one {"example_id": ID, "reward": R, "graders": {...}} a \
            line, in input order. Bad lines are reported as file:line: field: problem before any \
            grader is called (exit 2). The builtin grader computes point and detect rewards locally \
            (the same definitions as the server's).
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @Option(help: "The answers to score (JSON Lines).")
    var answers: String

    @Flag(help: "One JSON object a line.")
    var json = false

    /// Lines scored at once; each model grader still holds its own `concurrency`.
    static let window = 64

    func run() async throws {
        try await CommandEdge.run {
            let url = URL(fileURLWithPath: config), answersURL = URL(fileURLWithPath: answers)
            let report = try await NIOThreadPool.singleton.runIfActive { validateJob(configURL: url) }
            guard report.isValid, var config = report.config, let train = report.train else {
                throw CommandFailure(report.problems.map(\.description).joined(separator: "\n"), exitCode: 2)
            }
            let entries: [GradeAnswers.Entry]
            let rollouts: [(Example, Rollout)]
            do {
                entries = try GradeAnswers.read(answersURL, file: answers)
                rollouts = try await NIOThreadPool.singleton.runIfActive { [answers] in
                    try Self.match(entries, datasets: [train, report.eval].compactMap { $0 }, file: answers)
                }
            } catch let error as DatasetError {
                throw CommandFailure(error.description, exitCode: 2)
            }
            // No server here: point and detect builtin rewards are computed locally (the same definitions).
            config.reward.source = .local
            let scorer = try makeRewardScorer(config: config)
            let names = config.reward.graders.map(\.name)
            let results: [GradeAnswers.Result]
            do {
                results = try await Self.score(entries, rollouts, scorer: scorer)
                await scorer.close()
            } catch {
                await scorer.close()
                throw error
            }
            for result in results {
                if json {
                    print(GradeAnswers.jsonLine(result, graders: names))
                } else {
                    let scores = names.map { "\($0) \(Self.format(result.scores[$0]))" }.joined(separator: "  ")
                    print("\(result.entry.exampleID)  reward \(Self.format(result.reward))" + (scores.isEmpty ? "" : "  " + scores))
                }
            }
        }
    }

    static func format(_ value: Double?) -> String {
        value.map { String(format: "%.4f", $0) } ?? "-"
    }

    /// Each entry's example and rollout; every problem at once, located in the answers file.
    static func match(_ entries: [GradeAnswers.Entry], datasets: [Dataset], file: String) throws -> [(Example, Rollout)] {
        let wanted = Set(entries.map(\.exampleID))
        var found: [String: Example] = [:]
        for dataset in datasets {
            for position in 0..<dataset.count where found.count < wanted.count {
                let example = try dataset.example(at: position)
                if wanted.contains(example.id), found[example.id] == nil { found[example.id] = example }
            }
        }
        var problems: [Problem] = []
        var result: [(Example, Rollout)] = []
        for entry in entries {
            guard let example = found[entry.exampleID] else {
                problems.append(Problem(file: file, line: entry.line, field: "example_id",
                                        message: "no example \"\(entry.exampleID)\" in the job's train or eval set"))
                continue
            }
            do {
                result.append((example, try GradeAnswers.rollout(entry, example: example, file: file)))
            } catch {
                problems += error.problems
            }
        }
        guard problems.isEmpty else { throw DatasetError(problems: problems) }
        return result
    }

    /// Scores every entry, `window` at a time, in input order.
    static func score(_ entries: [GradeAnswers.Entry], _ rollouts: [(Example, Rollout)],
                      scorer: any RewardScorer) async throws -> [GradeAnswers.Result] {
        try await withThrowingTaskGroup(of: (Int, GradeAnswers.Result).self) { group in
            var results = [GradeAnswers.Result?](repeating: nil, count: entries.count)
            let task = { @Sendable (index: Int) async throws -> (Int, GradeAnswers.Result) in
                let (example, rollout) = rollouts[index]
                let graded = try await scorer.graded(for: example, rollouts: [rollout], serverRewards: nil)
                return (index, GradeAnswers.Result(entry: entries[index], reward: graded.rewards[0],
                                                   scores: graded.scores.compactMapValues(\.first)))
            }
            var next = 0
            while next < min(window, entries.count) {
                let index = next
                group.addTask { try await task(index) }
                next += 1
            }
            for try await (index, result) in group {
                results[index] = result
                if next < entries.count {
                    let index = next
                    group.addTask { try await task(index) }
                    next += 1
                }
            }
            return results.compactMap { $0 }
        }
    }
}
