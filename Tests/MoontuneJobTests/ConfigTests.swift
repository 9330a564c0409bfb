import Foundation
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Job config")
struct ConfigTests {
    /// The problems of loading `json`, or an empty list when it loads.
    private func problems(_ json: String) throws -> [Problem] {
        let folder = try TemporaryFolder()
        let url = try folder.config(json)
        do {
            _ = try JobConfig.load(from: url)
            return []
        } catch {
            return error.problems
        }
    }

    private func load(_ json: String, in folder: TemporaryFolder) throws -> LoadedConfig {
        try JobConfig.load(from: folder.config(json))
    }

    @Test func minimalConfigGetsEveryDocumentedDefault() throws {
        let folder = try TemporaryFolder()
        let config = try load(minimalConfig(), in: folder).config
        #expect(config.api.baseURL == "https://api.moondream.ai/v1")
        #expect(config.api.apiKeyEnv == "MOONDREAM_API_KEY")
        #expect(config.api.requestTimeoutSeconds == 120)
        #expect(config.api.maxAttempts == 100)
        #expect(config.api.giveUpAfterSeconds == 900)
        #expect(config.api.maxBackoffSeconds == 30)
        #expect(config.data.maxImageBytes == 20 * 1024 * 1024)
        #expect(config.data.allowAbsolutePaths == false)
        #expect(config.train.groupsPerStep == 8)
        #expect(config.train.rolloutsPerGroup == 4)
        #expect(config.train.lr == 0.002)
        #expect(config.train.seed == 0)
        #expect(config.train.concurrency == 8)
        #expect(config.train.maxStaleness == 0)
        #expect(config.train.reasoning == false)
        #expect(config.train.settings.temperature == 1.0)
        #expect(config.train.settings.topP == 1.0)
        #expect(config.train.settings.maxTokens == 128)
        #expect(config.train.settings.maxObjects == nil)
        #expect(config.checkpoint.everySteps == 10)
        #expect(config.checkpoint.keepLast == 0)
        #expect(config.checkpoint.keepBest == false)
        #expect(config.eval == nil)
        #expect(config.reward.source == .server)
        #expect(config.reward.detect == .f1)
        #expect(config.reward.query == .exact)
        #expect(config.reward.numericTolerance == 1e-6)
        #expect(config.reward.command == nil)
        #expect(config.reward.commandTimeoutSeconds == 30)
    }

    @Test func contractExampleLoadsWithItsValues() throws {
        let folder = try TemporaryFolder()
        let json = """
            {
              "name": "kitchen-point-v1",
              "rank": 16,
              "api": { "base_url": "https://api.moondream.ai/v1", "api_key_env": "MOONDREAM_API_KEY" },
              "data": { "train": "train.jsonl", "eval": "eval.jsonl" },
              "train": {
                "steps": 100, "groups_per_step": 8, "rollouts_per_group": 4, "lr": 0.002, "seed": 1, "concurrency": 8,
                "settings": { "temperature": 1.0, "top_p": 1.0, "max_tokens": 128, "max_objects": 8 }
              },
              "checkpoint": { "every_steps": 20 },
              "eval": { "every_steps": 20, "max_examples": 50 }
            }
            """
        let config = try load(json, in: folder).config
        #expect(config.name == "kitchen-point-v1")
        #expect(config.train.steps == 100)
        #expect(config.train.seed == 1)
        #expect(config.train.settings.maxObjects == 8)
        #expect(config.checkpoint.everySteps == 20)
        #expect(config.eval == EvalConfig(everySteps: 20))
    }

    @Test func relativePathsResolveAgainstTheConfigFolder() throws {
        let folder = try TemporaryFolder()
        let url = try folder.write("jobs/a/job.json", #"{"name": "j", "rank": 8, "data": {"train": "../data/train.jsonl", "eval": "eval.jsonl"}, "train": {"steps": 1}}"#)
        let config = try JobConfig.load(from: url).config
        let base = folder.url.standardizedFileURL.path
        #expect(config.data.train.path == base + "/jobs/data/train.jsonl")
        #expect(config.data.eval?.path == base + "/jobs/a/eval.jsonl")
    }

    @Test func unknownKeyNamesItsPathAndLineAndSuggestsTheNearKey() throws {
        let json = """
            {"name": "j", "rank": 16, "data": {"train": "t.jsonl"},
             "train": {"steps": 3,
                       "lerning_rate": 0.1}}
            """
        let found = try problems(json)
        #expect(found.count == 1)
        #expect(found.first?.field == "train.lerning_rate")
        #expect(found.first?.line == 3)
        #expect(found.first?.message.contains(#"did you mean "lr"?"#) == true)
    }

    @Test func misspelledKeySuggestsTheKeyItWasMeantToBe() throws {
        let found = try problems(minimalConfig(train: #""rollouts_per_grup": 4"#))
        #expect(found.first?.message.contains(#"did you mean "rollouts_per_group"?"#) == true)
    }

    @Test func keyInTheWrongSectionSaysWhereItBelongs() throws {
        let found = try problems(minimalConfig(top: #""concurrency": 4"#))
        #expect(found.lines == [found.first?.description ?? ""])
        #expect(found.first?.field == "concurrency")
        #expect(found.first?.message.contains(#"belongs in "train""#) == true)
    }

    @Test func wrongTypeIsReportedWithWhatWasExpected() throws {
        let found = try problems(#"{"name": "j", "rank": "16", "data": {"train": "t.jsonl"}, "train": {"steps": 1, "reasoning": "yes"}}"#)
        #expect(found.lines.contains { $0.hasSuffix("job.json:1: rank: expected an integer, got a string") })
        #expect(found.lines.contains { $0.hasSuffix("train.reasoning: expected true or false, got a string") })
    }

    @Test func integerFieldsRefuseFractionsButAcceptIntegralNumbers() throws {
        #expect(try problems(minimalConfig(train: #""groups_per_step": 4.0"#)).isEmpty)
        let found = try problems(minimalConfig(train: #""groups_per_step": 4.5"#))
        #expect(found.first?.field == "train.groups_per_step")
        #expect(found.first?.message == "expected an integer, got 4.5")
    }

    @Test(arguments: [
        (#""rank": 12"#, "rank", "must be 8, 16, 24 or 32, got 12"),
        (#""train": {"steps": 0}"#, "train.steps", "must be ≥ 1, got 0"),
        (#""train": {"steps": 5, "rollouts_per_group": 0}"#, "train.rollouts_per_group", "must be from 1 to 16 (the API's num_rollouts), got 0"),
        (#""train": {"steps": 5, "rollouts_per_group": 17}"#, "train.rollouts_per_group", "must be from 1 to 16 (the API's num_rollouts), got 17"),
        (#""train": {"steps": 5, "concurrency": 0}"#, "train.concurrency", "must be ≥ 1, got 0"),
        (#""train": {"steps": 5, "lr": 0}"#, "train.lr", "must be > 0, got 0.0"),
        (#""train": {"steps": 5, "lr": -0.1}"#, "train.lr", "must be > 0, got -0.1"),
        (#""train": {"steps": 5, "settings": {"temperature": -0.5}}"#, "train.settings.temperature", "must be ≥ 0, got -0.5"),
        (#""train": {"steps": 5, "settings": {"top_p": 0}}"#, "train.settings.top_p", "must be in (0, 1], got 0.0"),
        (#""train": {"steps": 5, "settings": {"top_p": 1.5}}"#, "train.settings.top_p", "must be in (0, 1], got 1.5"),
        (#""train": {"steps": 5, "settings": {"max_tokens": 0}}"#, "train.settings.max_tokens", "must be ≥ 1, got 0"),
        (#""train": {"steps": 5, "settings": {"max_objects": 0}}"#, "train.settings.max_objects", "must be ≥ 1, got 0"),
    ])
    func valueOutOfRangeNamesFieldAndLimit(member: String, field: String, message: String) throws {
        var json = #"{"name": "j", "rank": 16, "data": {"train": "t.jsonl"}, "train": {"steps": 5}}"#
        let key = String(member.prefix { $0 != ":" })
        if key == #""rank""# {
            json = json.replacingOccurrences(of: #""rank": 16"#, with: member)
        } else {
            json = json.replacingOccurrences(of: #""train": {"steps": 5}"#, with: member)
        }
        let found = try problems(json)
        #expect(found.count == 1)
        #expect(found.first?.field == field)
        #expect(found.first?.message == message)
        #expect(found.first?.line == 1)
    }

    @Test func nameWithCharactersTheAPIRefusesIsAProblem() throws {
        let found = try problems(#"{"name": "my job!", "rank": 16, "data": {"train": "t.jsonl"}, "train": {"steps": 1}}"#)
        #expect(found.first?.field == "name")
        #expect(found.first?.message.contains("characters the API refuses") == true)
        #expect(try problems(#"{"name": "My_job-2", "rank": 16, "data": {"train": "t.jsonl"}, "train": {"steps": 1}}"#).isEmpty)
    }

    @Test func missingRequiredKeysAreEachReported() throws {
        let found = try problems(#"{"data": {}, "train": {}}"#)
        let fields = Set(found.map(\.field))
        #expect(fields == ["name", "rank", "data.train", "train.steps"])
        #expect(found.allSatisfy { $0.message.hasPrefix("missing") })
    }

    @Test func everyProblemIsReportedNotJustTheFirst() throws {
        let found = try problems(#"{"name": "a b", "rank": 3, "data": {"train": "t.jsonl"}, "train": {"steps": -1, "lr": 0, "concurrency": 0}}"#)
        #expect(found.count == 5)
    }

    @Test func nanIsNotJSONAndTheErrorNamesLineAndColumn() throws {
        let found = try problems("{\"name\": \"j\",\n \"rank\": NaN}")
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.message.contains("column 10") == true)
        #expect(found.first?.message.contains("NaN and Infinity are not JSON numbers") == true)
    }

    @Test func brokenJSONNamesLineAndColumn() throws {
        let found = try problems("{\n  \"name\": \"j\"\n  \"rank\": 8\n}")
        #expect(found.first?.line == 3)
        #expect(found.first?.message.contains("expected ',' or '}'") == true)
    }

    @Test func byteOrderMarkAndCRLFAreAccepted() throws {
        let folder = try TemporaryFolder()
        let text = minimalConfig().replacingOccurrences(of: ", ", with: ",\r\n")
        let url = try folder.write("job.json", [0xEF, 0xBB, 0xBF] + Array(text.utf8))
        #expect(try JobConfig.load(from: url).config.name == "job-1")
    }

    @Test func keyWrittenTwiceIsAProblem() throws {
        let found = try problems(#"{"name": "j", "rank": 8, "rank": 16, "data": {"train": "t.jsonl"}, "train": {"steps": 1}}"#)
        #expect(found.first?.field == "rank")
        #expect(found.first?.message == "key appears more than once")
    }

    @Test func evalSectionWithoutEvalSetIsAWarningNotAnError() throws {
        let folder = try TemporaryFolder()
        let loaded = try load(minimalConfig(top: #""eval": {"every_steps": 5}"#), in: folder)
        #expect(loaded.config.eval == nil)
        #expect(loaded.warnings.contains { $0.contains("eval set not given") && $0.contains("eval disabled") })
    }

    @Test func evalSetWithoutEvalSectionEvaluatesAtCheckpointCadence() throws {
        let folder = try TemporaryFolder()
        let json = #"{"name": "j", "rank": 8, "data": {"train": "t.jsonl", "eval": "e.jsonl"}, "train": {"steps": 40}, "checkpoint": {"every_steps": 10}}"#
        let config = try load(json, in: folder).config
        #expect(config.eval == EvalConfig(everySteps: 10))
        #expect(config.eval?.maxExamples == 50)
    }

    @Test func seedKeepsAll64Bits() throws {
        let folder = try TemporaryFolder()
        let config = try load(minimalConfig(train: #""seed": 18446744073709551615"#), in: folder).config
        #expect(config.train.seed == UInt64.max)
        #expect(try problems(minimalConfig(train: #""seed": -1"#)).first?.field == "train.seed")
    }

    @Test func rewardChoicesAreCheckedWithSuggestions() throws {
        let found = try problems(minimalConfig(top: #""reward": {"source": "locl", "query": "exactly", "command": []}"#))
        #expect(found.lines.contains { $0.contains(#"reward.source: must be one of "server", "local", got "locl"; did you mean "local"?"#) })
        #expect(found.lines.contains { $0.contains("reward.query: must be one of") })
        #expect(found.lines.contains { $0.contains("reward.command: must be a non-empty array") })
    }

    @Test func baseURLMustBeHTTP() throws {
        let found = try problems(minimalConfig(top: #""api": {"base_url": "api.moondream.ai"}"#))
        #expect(found.first?.field == "api.base_url")
    }

    @Test func apiKeyIsReadFromTheNamedVariable() throws {
        var api = APIConfig()
        api.apiKeyEnv = "MY_KEY"
        #expect(try api.apiKey(environment: ["MY_KEY": "secret-value"]) == "secret-value")
    }

    @Test func missingAPIKeyNamesTheVariableButNoValue() throws {
        var api = APIConfig()
        api.apiKeyEnv = "MY_KEY"
        do {
            _ = try api.apiKey(environment: ["OTHER": "secret-value", "MY_KEY": "  "])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("MY_KEY"))
            #expect(!error.description.contains("secret-value"))
        }
    }

    @Test func snapshotIsCanonicalJSONWithDefaultsFilledIn() throws {
        let folder = try TemporaryFolder()
        let config = try load(minimalConfig(train: #""lr": 0.003"#), in: folder).config
        let snapshot = config.snapshotJSON
        #expect(snapshot.hasPrefix(#"{"api":{"api_key_env":"MOONDREAM_API_KEY","#))
        #expect(snapshot.contains(#""lr":0.003"#))
        #expect(snapshot.contains(#""groups_per_step":8"#))
        let parsed = try JSONSerialization.jsonObject(with: Data(snapshot.utf8)) as? [String: Any]
        #expect(parsed?["rank"] as? Int == 16)
    }

    @Test func problemDescriptionIsFileLineFieldMessage() {
        #expect(Problem(file: "a.jsonl", line: 3, field: "image", message: "missing").description == "a.jsonl:3: image: missing")
        #expect(Problem(file: "a.jsonl", field: "", message: "empty").description == "a.jsonl: empty")
    }
}
