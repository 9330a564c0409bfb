import Foundation
import Testing
@testable import MoondreamAPI
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

/// The config keys and dataset fields the live service brought: train_step's own deadline, the
/// in-doubt window, metrics pushes, SFT steps, settings by skill and spatial_refs.
@Suite struct LiveServiceConfigTests {
    func load(_ json: String) throws -> JobConfig {
        let folder = try TemporaryFolder()
        return try JobConfig.load(from: try folder.config(json)).config
    }

    func problems(_ json: String) throws -> [Problem] {
        let folder = try TemporaryFolder()
        let url = try folder.config(json)
        do {
            _ = try JobConfig.load(from: url)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func trainStepHasItsOwnDeadlineAndTheInDoubtWindowReachesOneDeadlinePastIt() throws {
        let defaults = try load(minimalConfig())
        #expect(defaults.api.requestTimeoutSeconds == 120)
        #expect(defaults.api.trainStepTimeoutSeconds == 900)
        // Issue 20: a step that timed out gets one more full deadline to land.
        #expect(defaults.api.inDoubtWaitSeconds == 1800)
        #expect(defaults.api.pushMetrics)
        let set = try load(minimalConfig(top: #""api": {"train_step_timeout_s": 300, "push_metrics": false}"#))
        #expect(set.api.inDoubtWaitSeconds == 600)
        #expect(!set.api.pushMetrics)
        let both = try load(minimalConfig(top: #""api": {"train_step_timeout_s": 300, "in_doubt_wait_s": 5}"#))
        #expect(both.api.inDoubtWaitSeconds == 5)
        #expect(try problems(minimalConfig(top: #""api": {"train_step_timeout_s": 0}"#)).map(\.field) == ["api.train_step_timeout_s"])
    }

    @Test func sftStepsAreBoundedByTheSteps() throws {
        #expect(try load(minimalConfig(train: #""sft_steps": 3"#)).train.sftSteps == 3)
        #expect(try load(minimalConfig(train: #""sft_steps": 3"#)).train.isSFTStep(3))
        #expect(try !load(minimalConfig(train: #""sft_steps": 3"#)).train.isSFTStep(4))
        #expect(try problems(minimalConfig(train: #""sft_steps": 11"#)).map(\.field) == ["train.sft_steps"])
        #expect(try problems(minimalConfig(train: #""sft_steps": -1"#)).map(\.field) == ["train.sft_steps"])
    }

    @Test func aSkillsSettingsAreCheckedWithTheirPath() throws {
        let found = try problems(minimalConfig(train: #""settings": {"point": {"top_p": 2, "max_token": 5}}"#))
        #expect(found.map(\.field).contains("train.settings.point.top_p"))
        #expect(found.map(\.field).contains("train.settings.point.max_token"))
    }

    @Test func aConfigWithoutTheNewKeysKeepsItsFingerprint() throws {
        // Jobs recorded before these keys existed must still resume: their fingerprint has the
        // same components as before, and the new ones enter only when set.
        let dataset = DatasetFingerprint(byteCount: 1, modifiedMs: 1, sha256: "00")
        let old = try load(minimalConfig()).trainingFingerprint(train: dataset)
        #expect(Set(old.components.keys) == [
            "rank", "train.seed", "train.lr", "train.groups_per_step", "train.rollouts_per_group", "train.reasoning",
            "train.settings.temperature", "train.settings.top_p", "train.settings.max_tokens", "train.settings.max_objects",
            "reward.source", "reward.detect", "reward.query", "reward.numeric_tolerance", "reward.command", "data.train",
        ])
        let sft = try load(minimalConfig(train: #""sft_steps": 2, "settings": {"query": {"max_tokens": 64}}"#)).trainingFingerprint(train: dataset)
        #expect(sft.changes(from: old) == ["train.settings.query.max_tokens: (not set) → 64", "train.sft_steps: (not set) → 2"])
    }

    // MARK: - Dataset and requests

    func builder(_ config: String, lines: [String]) throws -> (RequestBuilder, Dataset, TemporaryFolder) {
        let folder = try TemporaryFolder()
        try folder.png("img.png", width: 3, height: 2)
        try folder.dataset(lines)
        let loaded = try JobConfig.load(from: try folder.config(config)).config
        let report = validateJob(configURL: loaded.sourceURL)
        #expect(report.problems.isEmpty, "\(report.problems)")
        let dataset = try #require(report.train)
        return (RequestBuilder(config: loaded, cache: ImageCache(maxImageBytes: 1 << 20)), dataset, folder)
    }

    @Test func spatialRefsOfAQueryExampleGoWithItsRequest() throws {
        let line = #"{"id": "q", "image": "img.png", "skill": "query", "question": "What is here?", "answer": "a cat", "spatial_refs": [[0.1, 0.2], [0.1, 0.2, 0.5, 0.6]]}"#
        let (builder, dataset, folder) = try builder(minimalConfig(), lines: [line])
        defer { withExtendedLifetime(folder) {} }
        let example = try dataset.example(at: 0)
        #expect(example.spatialRefs == [[0.1, 0.2], [0.1, 0.2, 0.5, 0.6]])
        let body = try JSONSerialization.jsonObject(with: Data(try RawJSON.encoding(builder.rolloutsRequest(for: example, finetuneID: "f", numRollouts: 2)).bytes)) as? [String: Any]
        let request = try #require(body?["request"] as? [String: Any])
        #expect((request["spatial_refs"] as? [[Double]]) == [[0.1, 0.2], [0.1, 0.2, 0.5, 0.6]])
    }

    @Test(arguments: [
        (#""spatial_refs": "x""#, "spatial_refs"),
        (#""spatial_refs": [[0.1]]"#, "spatial_refs[0]"),
        (#""spatial_refs": [[0.1, 1.5]]"#, "spatial_refs[0]"),
        (#""spatial_refs": [[0.5, 0.5, 0.1, 0.1]]"#, "spatial_refs[0]"),
    ])
    func badSpatialRefsAreLocated(member: String, field: String) throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png", width: 3, height: 2)
        try folder.dataset([#"{"id": "q", "image": "img.png", "skill": "query", "question": "Q?", "answer": "blue", \#(member)}"#])
        let report = validateJob(configURL: try folder.config(minimalConfig()))
        let problem = try #require(report.problems.first)
        #expect(problem.field == field)
        #expect(problem.line == 1)
        #expect(problem.file.hasSuffix("train.jsonl"))
    }

    @Test func sftGroupsTakeTheirTargetFromTheGroundTruth() throws {
        let lines = [Line.point("p", x: 0.25, y: 0.75), Line.detect("d"), Line.query("q", answer: #"["red", "crimson"]"#),
                     #"{"id": "b", "image": "img.png", "skill": "point", "object": "box", "ground_truth": {"boxes": [{"x_min": 0.1, "y_min": 0.1, "x_max": 0.2, "y_max": 0.2}]}}"#]
        let (builder, dataset, folder) = try builder(minimalConfig(train: #""sft_steps": 1"#), lines: lines)
        defer { withExtendedLifetime(folder) {} }
        func group(_ index: Int) throws -> (request: [String: Any], target: [String: Any]) {
            guard case let .sft(request, target) = try builder.sftGroup(for: try dataset.example(at: index)) else {
                Issue.record("not an SFT group")
                return ([:], [:])
            }
            let r = try #require(try JSONSerialization.jsonObject(with: Data(request.bytes)) as? [String: Any])
            let t = try #require(try JSONSerialization.jsonObject(with: Data(target.bytes)) as? [String: Any])
            return (r, t)
        }
        let point = try group(0)
        #expect(point.request["skill"] as? String == "point")
        #expect(point.request["settings"] == nil)
        #expect((point.target["points"] as? [[String: Double]]) == [["x": 0.25, "y": 0.75]])
        let detect = try group(1)
        #expect((detect.target["boxes"] as? [[String: Double]])?.first?["x_max"] == 0.4)
        let query = try group(2)
        #expect(query.target["answer"] as? String == "red")
        #expect(query.request["question"] as? String == "What color?")
        let boxes = try group(3)
        #expect((boxes.target["boxes"] as? [[String: Double]])?.count == 1)
    }
}
