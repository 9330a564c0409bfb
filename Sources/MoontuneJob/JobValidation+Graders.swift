import Foundation
import MoondreamAPI
import MoontuneConfig

/// Issue 24: graders that cannot score the dataset's examples are refused before any call, not
/// found out at the first step that draws such an example.
func graderProblems(_ config: JobConfig, skills: Set<Skill>, decoding: ConfigDecoding, configURL: URL) -> [Problem] {
    let others = Skill.allCases.filter { $0 != .query && skills.contains($0) }
    guard !others.isEmpty else { return [] }
    return config.reward.graders.enumerated().compactMap { position, grader in
        guard case .textSimilarity = grader.kind else { return nil }
        return Problem(file: configURL.path, line: decoding.referenceLines["reward.graders[\(position)]"],
                       field: "reward.graders[\(position)].type",
                       message: "grader \"\(grader.name)\": text_similarity scores query answers only, but the dataset has "
                           + others.map(\.rawValue).joined(separator: " and ") + " examples (use a builtin or model grader for them)")
    }
}
