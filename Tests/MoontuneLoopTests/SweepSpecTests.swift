import Foundation
import Testing
import MoontuneConfig
@testable import MoontuneJSON
@testable import MoontuneLoop
@testable import MoontuneStore

/// The sweep file (issue 25): grid order, random draws reproducible by their seed and within
/// their ranges, the variant's config text, and every problem located in the sweep file.
@Suite struct SweepSpecTests {
    /// A folder with `job.json` (a base config) and the sweep file `text` as `sweep.json`.
    func write(_ text: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-spec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(#"{"name": "base", "rank": 8, "train": {"steps": 4, "lr": 0.002}, "data": {"train": "t.jsonl"}}"#.utf8)
            .write(to: folder.appendingPathComponent("job.json"))
        let url = folder.appendingPathComponent("sweep.json")
        try Data(text.utf8).write(to: url)
        return url
    }

    func problems(_ text: String) throws -> [Problem] {
        let url = try write(text)
        do throws(SweepError) {
            _ = try SweepSpec.load(from: url)
            return []
        } catch {
            return error.problems
        }
    }

    func values(_ spec: SweepSpec) -> [[String]] { spec.variants.map { $0.values.map { $0.serialized() } } }

    @Test func aGridsVariantsComeInGridOrderWithTheFirstKeyVaryingSlowest() throws {
        let spec = try SweepSpec.load(from: try write("""
            {"name": "lr-sweep", "base": "job.json",
             "grid": {"train.lr": [0.001, 0.004], "train.rollouts_per_group": [4, 8, 16]},
             "metric": "eval/reward_mean", "prune": {"type": "asha", "rungs": [10, 20], "keep": 0.5}}
            """))
        #expect(spec.keys.map(\.key) == ["train.lr", "train.rollouts_per_group"])
        #expect(values(spec) == [["0.001", "4"], ["0.001", "8"], ["0.001", "16"], ["0.004", "4"], ["0.004", "8"], ["0.004", "16"]])
        #expect(spec.variants.map { spec.jobName($0) } == (1...6).map { "lr-sweep-\($0)" })
        #expect(spec.prune == PruneRule(rungs: [10, 20], keep: 0.5))
        #expect(spec.metric == .rewardMean)
        #expect(spec.baseURL.lastPathComponent == "job.json")
    }

    @Test func aVariantsConfigIsTheBaseWithItsValuesAndItsJobName() throws {
        let spec = try SweepSpec.load(from: try write("""
            {"name": "s", "base": "job.json", "grid": {"train.lr": [0.001], "eval.every_steps": [2]}, "metric": "eval/point/f1"}
            """))
        let text = try spec.configText(spec.variants[0])
        let root = try JSONParser.parse(Array(text.utf8))
        #expect(root["name"]?.value == .string("s-1"))
        #expect(root["train"]?["lr"]?.value.serialized() == "0.001")
        #expect(root["train"]?["steps"]?.value.serialized() == "4")
        #expect(root["eval"]?["every_steps"]?.value.serialized() == "2")
        #expect(root["rank"]?.value.serialized() == "8")
        #expect(spec.paramsJSON(spec.variants[0]) == #"[["train.lr",0.001],["eval.every_steps",2]]"#)
    }

    @Test func randomDrawsAreTheSameForTheSameSeedAndWithinTheirRanges() throws {
        func load(seed: Int) throws -> SweepSpec {
            try SweepSpec.load(from: try write("""
                {"name": "r", "base": "job.json", "samples": 40, "seed": \(seed), "metric": "eval/reward_mean",
                 "random": {"train.lr": {"log_uniform": [0.0001, 0.01]}, "train.settings.temperature": {"uniform": [0.5, 1.5]},
                            "train.groups_per_step": {"int_uniform": [2, 5]}, "rank": [8, 16]}}
                """))
        }
        let first = try load(seed: 7)
        let again = try load(seed: 7)
        let other = try load(seed: 8)
        #expect(first.variants.count == 40)
        #expect(values(first) == values(again))
        #expect(values(first) != values(other))
        var groups: Set<Int> = []
        var ranks: Set<String> = []
        for variant in first.variants {
            guard case .number(let lr) = variant.values[0], case .number(let temperature) = variant.values[1],
                  case .number(let group) = variant.values[2] else {
                Issue.record("not numbers: \(variant.values)")
                continue
            }
            #expect(lr.double >= 0.0001 && lr.double <= 0.01)
            #expect(temperature.double >= 0.5 && temperature.double <= 1.5)
            #expect(group.isIntegerLiteral && (2...5).contains(group.int ?? 0))
            groups.insert(group.int ?? 0)
            ranks.insert(variant.values[3].serialized())
        }
        // 40 draws reach every integer and both choices.
        #expect(groups == [2, 3, 4, 5])
        #expect(ranks == ["8", "16"])
        // log_uniform spreads over the decades: some draws below 0.001, some above.
        let lrs = first.variants.compactMap { variant -> Double? in if case .number(let n) = variant.values[0] { n.double } else { nil } }
        #expect(lrs.contains { $0 < 0.001 } && lrs.contains { $0 > 0.001 })
    }

    @Test func samplesAndSeedMayAlsoSitInsideRandom() throws {
        let spec = try SweepSpec.load(from: try write("""
            {"name": "r", "base": "job.json", "metric": "eval/reward_mean", "random": {"train.lr": [0.1, 0.2, 0.3], "samples": 3, "seed": 1}}
            """))
        #expect(spec.variants.count == 3)
        #expect(spec.keys.map(\.key) == ["train.lr"])
    }

    @Test func randomDrawsAreDistinctAndTooFewDistinctVariantsAreRefusedNamingSamples() throws {
        // Three choices of two keys: nine variants at most, and none twice.
        let spec = try SweepSpec.load(from: try write("""
            {"name": "r", "base": "job.json", "metric": "eval/reward_mean", "samples": 9, "seed": 3,
             "random": {"train.lr": [0.1, 0.2, 0.3], "train.rollouts_per_group": [2, 4, 8]}}
            """))
        #expect(Set(values(spec)).count == 9, "every variant drawn once: \(values(spec))")
        let refused = try problems("""
            {"name": "r", "base": "job.json", "metric": "eval/reward_mean", "samples": 3, "seed": 1,
             "random": {"train.lr": [0.1, 0.2]}}
            """)
        let problem = try #require(refused.first { $0.field == "samples" })
        #expect(problem.message.contains("only 2 distinct variants (asked for 3)"), "\(problem.message)")
    }

    @Test func aVariantsParamsKeepTheNumbersAsTheSweepWroteThem() throws {
        let spec = try SweepSpec.load(from: try write("""
            {"name": "g", "base": "job.json", "metric": "eval/reward_mean", "grid": {"train.lr": [0.00001, 1e-4]}}
            """))
        let params = spec.variants.map { SweepMembership.params(spec.paramsJSON($0)) }
        #expect(params.map { $0.map(\.json) } == [["0.00001"], ["1e-4"]])
        #expect(params.map { $0.map(\.key) } == [["train.lr"], ["train.lr"]])
    }

    @Test func everyProblemNamesTheSweepFileTheLineAndTheKey() throws {
        let found = try problems("""
            {"name": "bad name!",
             "base": "job.json",
             "grid": {"train.lr": 0.1,
                      "name": ["x"]},
             "metric": "eval/kitchen/f1",
             "prune": {"type": "asha", "rungs": [20, 10], "keep": 1.5},
             "colour": 1}
            """)
        func line(of field: String) -> Int? { found.first { $0.field == field }?.line }
        #expect(found.allSatisfy { $0.file.hasSuffix("sweep.json") })
        #expect(line(of: "name") == 1)
        #expect(line(of: "grid.train.lr") == 3)
        #expect(line(of: "grid.name") == 4)
        #expect(line(of: "metric") == 5)
        #expect(line(of: "prune.rungs[1]") == 6)
        #expect(line(of: "prune.keep") == 6)
        #expect(line(of: "colour") == 7)
    }

    @Test func aMissingBaseGridAndRandomTogetherAndBadDistributionsAreRefused() throws {
        #expect(try problems(#"{"name": "s", "base": "nope.json", "grid": {"train.lr": [1]}, "metric": "eval/reward_mean"}"#)
            .contains { $0.field == "base" && $0.message.contains("nope.json") })
        #expect(try problems(#"{"name": "s", "base": "job.json", "grid": {"train.lr": [1]}, "random": {"train.lr": [1]}, "samples": 1, "seed": 1, "metric": "eval/reward_mean"}"#)
            .contains { $0.field == "random" })
        let bad = try problems("""
            {"name": "s", "base": "job.json", "metric": "eval/reward_mean", "samples": 0,
             "random": {"train.lr": {"log_uniform": [0, 1]}, "train.seed": {"int_uniform": [1.5, 3]}, "rank": {"normal": [1, 2]}}}
            """)
        #expect(Set(bad.map { $0.field }).isSuperset(of: ["samples", "seed", "random.train.lr.log_uniform", "random.train.seed.int_uniform",
                                                       "random.rank.normal"]))
        #expect(try problems("[1, 2]").count == 1)
        #expect(try problems("{\"name\": ").first?.message.contains("invalid JSON") == true)
    }
}
