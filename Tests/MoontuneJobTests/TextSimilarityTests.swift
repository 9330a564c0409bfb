import Foundation
import Testing
@testable import MoontuneConfig
@testable import MoontuneRewards

/// The `text_similarity` metrics against values computed by hand (docs/rewards.md).
@Suite("Text similarity")
struct TextSimilarityTests {
    @Test func tokenF1CountsSharedWordsWithMultiplicityAfterNormalizing() {
        // [red, car] vs [red, truck]: c = 1, P = R = 1/2.
        #expect(TextSimilarity.tokenF1("The red car", "a red truck") == 0.5)
        // [red, red, car] vs [red, car, car]: red once, car once, c = 2, P = R = 2/3.
        #expect(abs(TextSimilarity.tokenF1("red red car", "red car car") - 2.0 / 3.0) < 1e-12)
        // [red] vs [red, car, is, fast]: P = 1, R = 1/4, F1 = 2·(1/4)/(5/4) = 0.4.
        #expect(abs(TextSimilarity.tokenF1("Red!", "the red car is fast") - 0.4) < 1e-12)
        #expect(TextSimilarity.tokenF1("blue", "red") == 0)
    }

    @Test func tokenF1OfTwoEmptyAnswersIsOneAndOfOneEmptyIsZero() {
        #expect(TextSimilarity.tokenF1("", "") == 1)
        #expect(TextSimilarity.tokenF1("the", "a") == 1)  // both only articles: empty after normalizing
        #expect(TextSimilarity.tokenF1("", "red") == 0)
        #expect(TextSimilarity.tokenF1("red", "...") == 0)
    }

    @Test func rougeLUsesTheLongestCommonSubsequenceOfWords() {
        // [cat, sat, on, mat] vs [cat, on, mat]: LCS 3, P = 3/4, R = 1, F1 = 6/7.
        #expect(abs(TextSimilarity.rougeL("cat sat on mat", "the cat on the mat") - 6.0 / 7.0) < 1e-12)
        // Order matters: [mat, on, cat] vs [cat, on, mat] share every word but an LCS of 1: F1 = 1/3,
        // where token F1 is 1.
        #expect(abs(TextSimilarity.rougeL("mat on cat", "cat on mat") - 1.0 / 3.0) < 1e-12)
        #expect(TextSimilarity.tokenF1("mat on cat", "cat on mat") == 1)
        #expect(TextSimilarity.rougeL("", "") == 1)
        #expect(TextSimilarity.rougeL("dog", "cat") == 0)
    }

    @Test func charRatioIsOneMinusLevenshteinOverTheLongerNormalizedText() {
        // kitten → sitting: 3 edits over 7 characters.
        #expect(abs(TextSimilarity.charRatio("kitten", "sitting") - 4.0 / 7.0) < 1e-12)
        // Normalized first: case, punctuation and articles go; words joined by single spaces.
        #expect(TextSimilarity.charRatio("  The RED!  car ", "red car") == 1)
        // "red car" vs "red cat": one substitution over 7.
        #expect(abs(TextSimilarity.charRatio("red car", "red cat") - 6.0 / 7.0) < 1e-12)
        #expect(TextSimilarity.charRatio("", "") == 1)
        #expect(TextSimilarity.charRatio("abc", "") == 0)
    }

    @Test func theBestAcceptedAnswerCountsAndNoAcceptedAnswerScoresZero() {
        #expect(TextSimilarity.best(.tokenF1, answer: "red car", accepted: ["blue truck", "a red car"]) == 1)
        #expect(TextSimilarity.best(.charRatio, answer: "cat", accepted: ["cut", "dog"]) == 1 - 1.0 / 3.0)
        #expect(TextSimilarity.best(.rougeL, answer: "cat", accepted: []) == 0)
    }

    @Test func levenshteinAndLCSOnSmallCases() {
        #expect(TextSimilarity.levenshtein(Array("flaw"), Array("lawn")) == 2)
        #expect(TextSimilarity.levenshtein(Array(""), Array("abc")) == 3)
        #expect(TextSimilarity.longestCommonSubsequence(Array("ABCBDAB"), Array("BDCABA")) == 4)
    }
}

/// Reading a judge's score from the shapes real judges answer in, and refusing the rest loudly.
@Suite("Judge replies")
struct JudgeReplyTests {
    private func body(_ content: String) -> [UInt8] {
        let escaped = String(decoding: try! JSONSerialization.data(withJSONObject: [content], options: [.fragmentsAllowed]), as: UTF8.self)
        let value = escaped.dropFirst().dropLast()  // the JSON string literal of content
        return Array(#"{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": \#(value)}, "finish_reason": "stop"}]}"#.utf8)
    }

    @Test func aBareJSONObjectsScoreIsRead() throws {
        #expect(try JudgeReply.score(body: body(#"{"score": 0.75}"#)) == 0.75)
        #expect(try JudgeReply.score(body: body(#"  {"reason": "close", "score": 1}  "#)) == 1)
    }

    @Test func aScoreInsideAJSONFenceIsRead() throws {
        #expect(try JudgeReply.score(body: body("Here is my grade:\n```json\n{\"score\": 0.4, \"why\": \"partly\"}\n```")) == 0.4)
        #expect(try JudgeReply.score(body: body("```\n{\"score\": 0.2}\n```")) == 0.2)
    }

    @Test func aBareNumberIsRead() throws {
        #expect(try JudgeReply.score(body: body("0.9")) == 0.9)
        #expect(try JudgeReply.score(body: body(" 0 \n")) == 0)
    }

    @Test func contentGivenAsTextPartsIsRead() throws {
        let parts = #"{"choices": [{"message": {"content": [{"type": "text", "text": "{\"score\": "}, {"type": "text", "text": "0.5}"}]}}]}"#
        #expect(try JudgeReply.score(body: Array(parts.utf8)) == 0.5)
    }

    @Test func aScoreOutsideZeroToOneIsAnErrorQuotingTheReply() {
        #expect {
            try JudgeReply.score(body: body(#"{"score": 1.5}"#))
        } throws: { error in
            let text = String(describing: error)
            return text.contains("outside [0, 1]") && text.contains(#"{"score": 1.5}"#)
        }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: body("-0.1")) }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: body("7")) }
    }

    @Test func garbageIsAnErrorQuotingTheReplyShortenedNeverAZero() {
        let chatter = "I think the answer is mostly right but I cannot give a number. " + String(repeating: "blah ", count: 200)
        #expect {
            try JudgeReply.score(body: body(chatter))
        } throws: { error in
            let text = String(describing: error)
            return text.contains("I think the answer is mostly right") && text.contains("…")
                && text.count < JudgeReply.quoteLimit + 200
        }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: body(#"{"score": "0.5"}"#)) }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: body(#"{"grade": 0.5}"#)) }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: Array(#"{"choices": []}"#.utf8)) }
        #expect(throws: JudgeReplyError.self) { try JudgeReply.score(body: Array("<html>502 Bad Gateway</html>".utf8)) }
    }
}

/// The reward is Σ weight × score, and no grader's score may be missing.
@Suite("Weighted graders")
struct WeightedGradersTests {
    @Test func theRewardIsTheWeightedSumOfTheScores() throws {
        let graders = [GraderConfig(name: "match", weight: 0.5, kind: .builtin),
                       GraderConfig(name: "overlap", weight: 0.25, kind: .textSimilarity(.tokenF1)),
                       GraderConfig(name: "judge", weight: 0.25, kind: .model(ModelGraderConfig(baseURL: "http://x", model: "m", prompt: "{answer}")))]
        let rewards = try GradedRewards.combine(graders, scores: ["match": [1, 0, 0], "overlap": [1, 0.5, 0], "judge": [0.8, 0.4, 1]],
                                                rollouts: 3)
        #expect(rewards == [0.5 + 0.25 + 0.2, 0.125 + 0.1, 0.25])
    }

    @Test func aMissingOrShortScoreListIsAnErrorNotAZero() {
        let graders = [GraderConfig(name: "a", weight: 1, kind: .builtin), GraderConfig(name: "b", weight: 1, kind: .builtin)]
        #expect(throws: RewardError.self) { try GradedRewards.combine(graders, scores: ["a": [1, 1]], rollouts: 2) }
        #expect(throws: RewardError.self) { try GradedRewards.combine(graders, scores: ["a": [1, 1], "b": [1]], rollouts: 2) }
        #expect(throws: RewardError.self) { try GradedRewards.combine(graders, scores: ["a": [1, .nan], "b": [1, 1]], rollouts: 2) }
    }

    @Test func thePromptIsFilledInOnePassAndLeavesOtherBracesAlone() {
        let template = #"Q: {question} R: {reference} A: {answer} Reply {"score": s}"#
        let filled = PromptTemplate.fill(template, ["question": "what?", "reference": "red", "answer": "{question}"])
        #expect(filled == #"Q: what? R: red A: {question} Reply {"score": s}"#)
        #expect(PromptTemplate.unknownPlaceholders(in: "{answer} {answers} {refrence} {\"score\": 1}") == ["answers", "refrence"])
    }
}
