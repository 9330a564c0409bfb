import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Rollout requests")
struct RequestBuilderTests {
    private func setup(_ configJSON: String, lines: [String]) throws -> (RequestBuilder, Dataset, TemporaryFolder) {
        let folder = try TemporaryFolder()
        try folder.png("img.png", width: 3, height: 2)
        try folder.dataset(lines)
        let config = try JobConfig.load(from: try folder.config(configJSON)).config
        let dataset = try Dataset.open(config.data.train, options: DatasetOptions(config: config))
        return (RequestBuilder(config: config, cache: ImageCache(maxImageBytes: config.data.maxImageBytes)), dataset, folder)
    }

    private func json(_ request: RolloutsRequest) throws -> [String: Any] {
        let data = try JSONEncoder().encode(request)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func pointRequestCarriesImageSettingsAndGroundTruthForServerRewards() throws {
        let (builder, dataset, folder) = try setup(minimalConfig(train: #""settings": {"temperature": 0.7, "max_objects": 5}"#),
                                                   lines: [Line.point("a", x: 0.25, y: 0.75)])
        defer { withExtendedLifetime(folder) {} }
        let request = try builder.rolloutsRequest(for: try dataset.example(at: 0), finetuneID: "ft1", numRollouts: 4)
        let body = try json(request)
        #expect(body["finetune_id"] as? String == "ft1")
        #expect(body["num_rollouts"] as? Int == 4)
        let inner = try #require(body["request"] as? [String: Any])
        #expect(inner["skill"] as? String == "point")
        #expect(inner["object"] as? String == "the dot")
        #expect((inner["image_url"] as? String)?.hasPrefix("data:image/png;base64,iVBORw0KGgo") == true)
        let settings = try #require(inner["settings"] as? [String: Any])
        #expect(settings["temperature"] as? Double == 0.7)
        #expect(settings["top_p"] as? Double == 1)
        // Both the reference and the live service accept max_tokens with query only, and
        // max_objects with detect only.
        #expect(settings["max_tokens"] == nil)
        #expect(settings["max_objects"] == nil)
        #expect(request.groundTruth == .points([Point(x: 0.25, y: 0.75)]))
    }

    @Test func aSkillsOwnSettingsOverrideTheSharedOnesAndMaySendWhatTheSharedOnesDoNot() throws {
        let settings = #""settings": {"temperature": 0.7, "max_tokens": 64, "max_objects": 5, "point": {"max_tokens": 32, "temperature": 0.3}, "query": {"max_tokens": 200}}"#
        let (builder, dataset, folder) = try setup(minimalConfig(train: settings),
                                                   lines: [Line.point("p", x: 0.5, y: 0.5), Line.detect("d"), Line.query("q")])
        defer { withExtendedLifetime(folder) {} }
        func sent(_ index: Int) throws -> [String: Any] {
            let request = try builder.rolloutsRequest(for: try dataset.example(at: index), finetuneID: "ft", numRollouts: 1)
            return try #require((try json(request)["request"] as? [String: Any])?["settings"] as? [String: Any])
        }
        let point = try sent(0), detect = try sent(1), query = try sent(2)
        #expect(point["max_tokens"] as? Int == 32)
        #expect(point["temperature"] as? Double == 0.3)
        #expect(point["max_objects"] == nil)
        #expect(detect["max_tokens"] == nil)
        #expect(detect["max_objects"] as? Int == 5)
        #expect(detect["temperature"] as? Double == 0.7)
        #expect(query["max_tokens"] as? Int == 200)
        #expect(query["max_objects"] == nil)
    }

    @Test func detectRequestCarriesMaxObjectsAndEvalTemperatureOverride() throws {
        let (builder, dataset, folder) = try setup(minimalConfig(train: #""settings": {"max_objects": 5}"#), lines: [Line.detect("d")])
        defer { withExtendedLifetime(folder) {} }
        let request = try builder.rolloutsRequest(for: try dataset.example(at: 0), finetuneID: "ft", numRollouts: 1, temperature: 0)
        let settings = try #require((try json(request)["request"] as? [String: Any])?["settings"] as? [String: Any])
        #expect(settings["max_objects"] as? Int == 5)
        #expect(settings["temperature"] as? Double == 0)
        #expect(request.groundTruth != nil)
    }

    @Test func localRewardsSendNoGroundTruth() throws {
        let (builder, dataset, folder) = try setup(minimalConfig(top: #""reward": {"source": "local"}"#), lines: [Line.detect("d")])
        defer { withExtendedLifetime(folder) {} }
        let request = try builder.rolloutsRequest(for: try dataset.example(at: 0), finetuneID: "ft", numRollouts: 2)
        #expect(request.groundTruth == nil)
        #expect(try json(request)["ground_truth"] == nil)
    }

    @Test func queryNeverSendsGroundTruthAndAsksForReasoningWhenSet() throws {
        let (builder, dataset, folder) = try setup(minimalConfig(train: #""reasoning": true"#),
                                                   lines: [Line.query("q"), #"{"skill": "query", "question": "Why?", "answer": "because"}"#])
        defer { withExtendedLifetime(folder) {} }
        let withImage = try builder.rolloutsRequest(for: try dataset.example(at: 0), finetuneID: "ft", numRollouts: 3)
        #expect(withImage.groundTruth == nil)
        let inner = try #require(try json(withImage)["request"] as? [String: Any])
        #expect(inner["question"] as? String == "What color?")
        #expect(inner["reasoning"] as? Bool == true)
        #expect(inner["image_url"] is String)
        let withoutImage = try builder.skillRequest(for: try dataset.example(at: 1))
        #expect(withoutImage == .query(question: "Why?", imageURL: nil, reasoning: true,
                                       settings: SamplingSettings(temperature: 1, topP: 1, maxTokens: 128)))
    }

    @Test func imageReplacedByANonImageAfterValidationIsRefusedWhenTheRequestIsBuilt() throws {
        let (builder, dataset, folder) = try setup(minimalConfig(), lines: [Line.point("a")])
        let example = try dataset.example(at: 0)
        try folder.write("img.png", "no longer a picture")
        #expect(throws: DatasetError.self) { try builder.rolloutsRequest(for: example, finetuneID: "ft", numRollouts: 1) }
    }
}
