import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("validate")
struct ValidateJobTests {
    @Test func validJobGivesASummaryAndTheOpenedData() throws {
        let folder = try TemporaryFolder()
        try folder.png("a.png", width: 10, height: 20)
        try folder.write("b.gif", TestImages.gif(width: 300, height: 40))
        var lines = (0..<10).map { Line.point("p\($0)", image: "a.png") }
        lines += (0..<3).map { Line.detect("d\($0)", image: "b.gif") }
        try folder.dataset(lines)
        try folder.dataset([Line.query("e1"), Line.query("e2", image: "b.gif")], name: "eval.jsonl")
        try folder.png("img.png")
        let url = try folder.config(#"{"name": "j", "rank": 8, "data": {"train": "train.jsonl", "eval": "eval.jsonl"}, "train": {"steps": 9, "groups_per_step": 4, "seed": 3}}"#)

        let report = validateJob(configURL: url)
        #expect(report.problems.isEmpty)
        #expect(report.isValid)
        #expect(report.config?.name == "j")
        #expect(report.train?.count == 13)
        #expect(report.eval?.count == 2)
        let summary = report.summary
        #expect(summary.train.perSkill == [.point: 10, .detect: 3])
        #expect(summary.train.imagesByFormat == [.png: 10, .gif: 3])
        #expect(summary.train.minWidth == 10)
        #expect(summary.train.maxWidth == 300)
        #expect(summary.train.minHeight == 20)
        #expect(summary.train.maxHeight == 40)
        #expect(summary.stepsPerEpoch == 3)
        #expect(summary.evalUsed == 2)
        let expected = try DataOrder(count: 13, seed: 3, groupsPerStep: 4).indices(forStep: 1).map { try #require(report.train).example(at: $0).id }
        #expect(summary.stepOneIDs == expected)
        let text = summary.description
        #expect(text.contains("13 examples (point 10, detect 3)"))
        #expect(text.contains("images: gif 3, png 10; width 10–300 px, height 20–40 px"))
        #expect(text.contains("3 steps per epoch (3.00 epochs)"))
        #expect(text.contains("step 1 uses: " + expected.joined(separator: ", ")))
    }

    @Test func configAndDatasetProblemsAreReportedTogether() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        try folder.dataset([Line.point("a"), Line.point("b", x: 3)])
        try folder.dataset(["{"], name: "eval.jsonl")
        let url = try folder.config(#"{"name": "j", "rank": 9, "data": {"train": "train.jsonl", "eval": "eval.jsonl"}, "train": {"steps": 1}}"#)
        let report = validateJob(configURL: url)
        #expect(!report.isValid)
        #expect(report.config == nil)
        #expect(report.train == nil)
        let described = report.problems.lines
        #expect(described.count == 3)
        #expect(described[0].hasSuffix("job.json:1: rank: must be 8, 16, 24 or 32, got 9"))
        #expect(described[1].hasSuffix("train.jsonl:2: ground_truth.points[0].x: 3.0 is outside 0–1 (coordinates are normalized by the image size)"))
        #expect(described[2].contains("eval.jsonl:1: invalid JSON"))
    }

    @Test func missingDatasetFileIsAProblem() throws {
        let folder = try TemporaryFolder()
        let url = try folder.config(minimalConfig())
        let report = validateJob(configURL: url)
        #expect(report.problems.count == 1)
        // Reported where the config names the file, since the file itself has no line to point at.
        let problem = try #require(report.problems.first)
        #expect(problem.message.hasSuffix("train.jsonl: cannot read the dataset: no such file"))
        #expect(problem.field == "data.train")
        #expect(problem.file.hasSuffix(".json"))
    }

    @Test func missingConfigFileIsAProblem() throws {
        let folder = try TemporaryFolder()
        let report = validateJob(configURL: folder.path("nope.json"))
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.message.hasPrefix("cannot read the config") == true)
    }

    @Test func maxObjectsWithoutDetectExamplesIsAWarning() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        try folder.dataset([Line.point("a")])
        let url = try folder.config(minimalConfig(train: #""settings": {"max_objects": 4}"#))
        let report = validateJob(configURL: url)
        #expect(report.isValid)
        #expect(report.warnings.contains { $0.contains("train.settings.max_objects") && $0.contains("no detect examples") })
        #expect(report.warnings.contains { $0.contains("fewer than train.groups_per_step") })
    }

    /// 100,000 lines in seconds in a release build. A debug build is many times slower, so it
    /// checks 20,000 lines against a bound that still catches anything worse than linear.
    @Test func largeDatasetValidatesInSeconds() throws {
        #if DEBUG
        let count = 20_000
        let bound = Duration.seconds(30)
        #else
        let count = 100_000
        let bound = Duration.seconds(10)
        #endif
        let folder = try TemporaryFolder()
        for index in 0..<20 { try folder.png("img\(index).png", width: 16 + index, height: 16) }
        var text = ""
        text.reserveCapacity(count * 150)
        for index in 0..<count {
            text += #"{"id": "e\#(index)", "image": "img\#(index % 20).png", "skill": "point", "object": "the dot", "ground_truth": {"points": [{"x": 0.5, "y": 0.25}]}}"#
            text += "\n"
        }
        try folder.write("train.jsonl", text)
        let url = try folder.config(minimalConfig())
        let started = ContinuousClock.now
        let report = validateJob(configURL: url)
        let elapsed = ContinuousClock.now - started
        #expect(report.isValid)
        #expect(report.train?.count == count)
        #expect(report.summary.train.imagesByFormat == [.png: count])
        #expect(elapsed < bound, "validate of \(count) lines took \(elapsed)")
    }
}
