import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Query answer matching")
struct QueryMatchTests {
    private func score(_ answer: String, _ accepted: [String], _ mode: QueryMatch, tolerance: Double = 1e-6) -> Double {
        LocalRewards.query(answer: answer, accepted: accepted, mode: mode, tolerance: tolerance)
    }

    @Test func exactIgnoresCaseWhitespacePunctuationAndArticles() {
        #expect(score("  The RED car. ", ["red car"], .exact) == 1)
        #expect(score("a dog!", ["Dog"], .exact) == 1)
        #expect(score("\"Paris\"", ["paris"], .exact) == 1)
        #expect(score("red car", ["red"], .exact) == 0)
        #expect(score("an apple pie", ["apple  pie"], .exact) == 1)
    }

    @Test func anyAcceptedAnswerCounts() {
        #expect(score("crimson", ["red", "crimson"], .exact) == 1)
        #expect(score("blue", ["red", "crimson"], .exact) == 0)
        #expect(score("anything", [], .exact) == 0)
    }

    @Test func containsLooksForTheWordsTogetherInOrder() {
        #expect(score("The car is bright red.", ["red"], .contains) == 1)
        #expect(score("I am tired", ["red"], .contains) == 0)
        #expect(score("It is a red car", ["red car"], .contains) == 1)
        #expect(score("car red", ["red car"], .contains) == 0)
        #expect(score("red", ["the red car"], .contains) == 0)
    }

    @Test func regexMatchesAnywhereUnlessAnchored() {
        #expect(score("Answer: 42 apples", [#"\d+ apples"#], .regex) == 1)
        #expect(score("Answer: 42 apples", [#"^\d+"#], .regex) == 0)
        #expect(score("YES", ["(?i)^yes$"], .regex) == 1)
        #expect(score("yes", ["(unclosed"], .regex) == 0)
    }

    @Test func numericTakesTheFirstNumberWithinTolerance() {
        #expect(score("There are 3 cars.", ["3"], .numeric) == 1)
        #expect(score("three", ["3"], .numeric) == 1)
        #expect(score("1,250 people", ["1250"], .numeric) == 1)
        #expect(score("about 2.5e3", ["2500"], .numeric) == 1)
        #expect(score("-4 degrees", ["-4"], .numeric) == 1)
        #expect(score("4 or 5", ["5"], .numeric) == 0)
        #expect(score("no idea", ["0"], .numeric) == 0)
    }

    @Test func numericToleranceIsRelativeAboveOneAndAbsoluteBelow() {
        #expect(score("100.4", ["100"], .numeric, tolerance: 0.005) == 1)
        #expect(score("100.6", ["100"], .numeric, tolerance: 0.005) == 0)
        #expect(score("0.004", ["0"], .numeric, tolerance: 0.005) == 1)
        #expect(score("0.006", ["0"], .numeric, tolerance: 0.005) == 0)
        #expect(score("3.0000001", ["3"], .numeric) == 1)
        #expect(score("3.001", ["3"], .numeric) == 0)
    }

    @Test func normalizationDropsOnlyArticlesAndOuterPunctuation() {
        #expect(AnswerMatcher.normalized("  The U.S. is, a country! ") == "u.s is country")
        #expect(AnswerMatcher.words("Hello,   world") == ["hello", "world"])
    }
}
