import Foundation
import Testing
@testable import MoontuneConfig
@testable import MoontuneJob
@testable import MoontuneRewards

/// `reward.graders` in a config: decoded as CONTRACT.md writes it, every problem located.
@Suite("Grader config")
struct GraderConfigTests {
    private func load(_ reward: String) throws -> Result<JobConfig, ConfigError> {
        let folder = try TemporaryFolder()
        let url = try folder.config(minimalConfig(top: #""reward": \#(reward)"#))
        do {
            return .success(try JobConfig.load(from: url).config)
        } catch {
            return .failure(error)
        }
    }

    private func problems(_ reward: String) throws -> [Problem] {
        guard case .failure(let error) = try load(reward) else { return [] }
        return error.problems
    }

    static let contractGraders = #"""
        {
          "graders": [
            { "name": "match",   "type": "builtin", "weight": 0.5 },
            { "name": "overlap", "type": "text_similarity", "metric": "token_f1", "weight": 0.25 },
            { "name": "judge",   "type": "model", "weight": 0.25,
              "base_url": "http://127.0.0.1:8000/v1", "model": "judge-1", "api_key_env": "JUDGE_API_KEY",
              "prompt": "Question: {question}\nReference: {reference}\nANSWER: {answer}\nReply with JSON {\"score\": s}, s from 0 to 1.",
              "image": true, "concurrency": 8, "timeout_s": 60 },
            { "name": "mine",    "type": "command", "command": ["python3", "my_reward.py"], "weight": 1.0 }
          ]
        }
        """#

    @Test func theContractsExampleDecodes() throws {
        let config = try load(Self.contractGraders).get()
        let graders = config.reward.graders
        #expect(graders.map(\.name) == ["match", "overlap", "judge", "mine"])
        #expect(graders.map(\.weight) == [0.5, 0.25, 0.25, 1.0])
        #expect(graders[0].kind == .builtin)
        #expect(graders[1].kind == .textSimilarity(.tokenF1))
        let judge = try #require(graders[2].model)
        #expect(judge.baseURL == "http://127.0.0.1:8000/v1" && judge.model == "judge-1" && judge.apiKeyEnv == "JUDGE_API_KEY")
        #expect(judge.image && judge.concurrency == 8 && judge.timeoutSeconds == 60)
        #expect(graders[3].kind == .command(["python3", "my_reward.py"], timeoutSeconds: 30))
        // The snapshot keeps them (the variable's name, never a key).
        #expect(config.snapshotJSON.contains("\"graders\"") && config.snapshotJSON.contains("JUDGE_API_KEY"))
    }

    @Test func unknownKeysInAGraderAreLocatedErrors() throws {
        let found = try problems(#"""
            {"graders": [
              {"name": "overlap", "type": "text_similarity", "metrik": "token_f1"}
            ]}
            """#)
        #expect(found.contains { $0.field == "reward.graders[0].metrik" && $0.line == 2 && $0.message.contains("unknown key") }, "\(found.lines)")
        #expect(found.contains { $0.field == "reward.graders[0].metric" && $0.message.contains("missing") }, "\(found.lines)")
        // A key of another type is unknown for this one.
        let other = try problems(#"{"graders": [{"name": "m", "type": "builtin", "model": "x"}]}"#)
        #expect(other.contains { $0.field == "reward.graders[0].model" && $0.message.contains("unknown key") }, "\(other.lines)")
    }

    @Test func namesMustBeUniqueAndMadeOfLettersDigitsUnderscoresAndDashes() throws {
        let duplicate = try problems(#"{"graders": [{"name": "a", "type": "builtin"}, {"name": "a", "type": "builtin"}]}"#)
        #expect(duplicate.contains { $0.field == "reward.graders[1].name" && $0.message.contains("unique") }, "\(duplicate.lines)")
        let bad = try problems(#"{"graders": [{"name": "my grader", "type": "builtin"}]}"#)
        #expect(bad.contains { $0.field == "reward.graders[0].name" }, "\(bad.lines)")
    }

    @Test func badValuesAreLocated() throws {
        let found = try problems(#"""
            {"graders": [
              {"name": "a", "type": "fuzzy"},
              {"name": "b", "type": "text_similarity", "metric": "bleu"},
              {"name": "c", "type": "model", "base_url": "ftp://x", "model": "m", "prompt": "{answr}", "concurrency": 0, "timeout_s": -1},
              {"name": "d", "type": "model", "model": "m", "prompt": "{answer}", "api_key_env": "sk-123"},
              {"name": "e", "type": "builtin", "weight": "heavy"}
            ]}
            """#)
        let fields = Set(found.map(\.field))
        for field in ["reward.graders[0].type", "reward.graders[1].metric", "reward.graders[2].base_url", "reward.graders[2].prompt",
                      "reward.graders[2].concurrency", "reward.graders[2].timeout_s", "reward.graders[3].base_url",
                      "reward.graders[3].api_key_env", "reward.graders[4].weight"] {
            #expect(fields.contains(field), "\(field) not reported: \(found.lines)")
        }
        #expect(found.first { $0.field == "reward.graders[2].prompt" }?.message.contains("{answr}") == true)
        #expect(found.allSatisfy { $0.line != nil })
    }

    @Test func gradersAndACommandTogetherAreRefused() throws {
        let found = try problems(#"{"command": ["python3", "r.py"], "graders": [{"name": "a", "type": "builtin"}]}"#)
        #expect(found.contains { $0.field == "reward.command" && $0.message.contains("graders") }, "\(found.lines)")
        let empty = try problems(#"{"graders": []}"#)
        #expect(empty.contains { $0.field == "reward.graders" }, "\(empty.lines)")
    }

    @Test func aMissingSecondJudgeKeyIsAnErrorBeforeAnyJudgeClientIsMade() throws {
        let config = try load(#"""
            {"graders": [
              {"name": "a", "type": "model", "base_url": "http://127.0.0.1:9/v1", "model": "m", "prompt": "{answer}", "api_key_env": "KEY_A"},
              {"name": "b", "type": "model", "base_url": "http://127.0.0.1:9/v1", "model": "m", "prompt": "{answer}", "api_key_env": "KEY_B"}
            ]}
            """#).get()
        #expect(throws: ConfigError.self) { try config.reward.checkGraderKeys(environment: ["KEY_A": "k-aaaaaaaa"]) }
        // Had the first judge's HTTP client been made, dropping it unclosed would trap.
        #expect {
            _ = try GraderSet(config: config, environment: ["KEY_A": "k-aaaaaaaa"])
        } throws: { error in
            String(describing: error).contains("KEY_B") && !String(describing: error).contains("k-aaaaaaaa")
        }
    }

    @Test func aMissingJudgeKeyNamesTheVariableOnly() throws {
        let config = try load(Self.contractGraders).get()
        #expect {
            _ = try GraderSet(config: config, environment: [:])
        } throws: { error in
            String(describing: error).contains("JUDGE_API_KEY") && String(describing: error).contains("judge")
        }
    }
}

/// Issue 24: a grader that cannot score the dataset's examples is refused by validation.
@Suite("Grader validation")
struct GraderValidationTests {
    @Test func textSimilarityWithPointExamplesIsALocatedProblemBeforeAnyCall() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        try folder.dataset([
            #"{"id": "q1", "skill": "query", "question": "Q?", "answer": "red"}"#,
            #"{"id": "p1", "image": "img.png", "skill": "point", "object": "the dot", "ground_truth": {"points": [{"x": 0.5, "y": 0.25}]}}"#,
        ])
        let config = #"""
            {"name": "job-1", "rank": 16, "data": {"train": "train.jsonl"}, "train": {"steps": 2},
             "reward": {"graders": [
               {"name": "match", "type": "builtin"},
               {"name": "overlap", "type": "text_similarity", "metric": "token_f1"}
             ]}}
            """#
        let report = validateJob(configURL: try folder.config(config))
        let problem = try #require(report.problems.first { $0.field == "reward.graders[1].type" }, "\(report.problems.lines)")
        #expect(problem.line == 4)  // the overlap grader's line
        #expect(problem.message.contains("point") && problem.message.contains("overlap"))
        // Query examples only: valid.
        try folder.dataset([#"{"id": "q1", "skill": "query", "question": "Q?", "answer": "red"}"#])
        #expect(validateJob(configURL: try folder.config(config)).problems.isEmpty)
    }
}
