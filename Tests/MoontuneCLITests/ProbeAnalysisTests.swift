import Testing
import MoondreamAPI
@testable import MoontuneCLI
@testable import MoontuneReport

@Suite struct ProbeAnalysisTests {
    func group(_ skill: Skill, _ rewards: [Double], reasons: [String?]? = nil, lengths: [Int?]? = nil) -> ProbeAnalysis.Group {
        ProbeAnalysis.Group(skill: skill, rewards: rewards, finishReasons: reasons ?? rewards.map { _ in "stop" },
                            answerLengths: lengths ?? rewards.map { _ in nil })
    }

    @Test func theChanceOfSignalIsExactForSubsetsOfTheProbedGroup() {
        // Eight rollouts, one of them right: a group of 2 has signal with chance 1 − C(7,2)/C(8,2) = 1/4.
        let rewards = [1.0] + Array(repeating: 0.0, count: 7)
        #expect(abs(ProbeAnalysis.signalProbability(rewards, size: 2) - 0.25) < 1e-12)
        #expect(abs(ProbeAnalysis.signalProbability(rewards, size: 4) - 0.5) < 1e-12)
        #expect(ProbeAnalysis.signalProbability(rewards, size: 8) == 1)
        #expect(ProbeAnalysis.signalProbability(Array(repeating: 0.3, count: 8), size: 4) == 0)
        #expect(ProbeAnalysis.signalProbability([1], size: 4) == 0)
    }

    @Test func perSkillFiguresCountTruncationAndLength() {
        let analysis = ProbeAnalysis(groupsByTemperature: [(1.0, [
            group(.query, [1, 0, 0, 0], reasons: ["length", "stop", "stop", "stop"], lengths: [10, 2, 2, 2]),
            group(.point, [0.5, 0.5, 0.5, 0.5], reasons: [nil, nil, nil, nil]),
        ])], jobGroupSize: 4, jobTemperature: 1.0)
        let figures = try! #require(analysis.temperatures.first)
        let query = try! #require(figures.perSkill["query"])
        #expect(query.signalFraction == 1)
        #expect(query.truncationRate == 0.25)
        #expect(query.meanAnswerLength == 4)
        #expect(query.histogram.counts.reduce(0, +) == 4)
        #expect(query.histogram.counts.first == 3)
        #expect(query.histogram.counts.last == 1)
        let point = try! #require(figures.perSkill["point"])
        #expect(point.signalFraction == 0)
        #expect(point.truncationRate == nil, "no finish_reason was sent")
        #expect(figures.signalFraction == 0.5)
        #expect(analysis.groupSizes == [2, 4])
    }

    @Test func theRecommendationIsTheSmallestGroupThatGivesMostGroupsSignal() {
        // One right answer in eight at temperature 0.7; half right at 1.2.
        let sparse = (0..<4).map { _ in group(.point, [1] + Array(repeating: 0.0, count: 7)) }
        let balanced = (0..<4).map { _ in group(.point, [1, 1, 1, 1, 0, 0, 0, 0]) }
        let analysis = ProbeAnalysis(groupsByTemperature: [(0.7, sparse), (1.2, balanced)], jobGroupSize: 2, jobTemperature: 0.7)
        #expect(analysis.recommendation.temperature == 1.2)
        #expect(analysis.recommendation.rolloutsPerGroup == 4)  // C(4,4)+C(4,4) over C(8,4): 1 − 2/70 ≥ 0.8; size 2: 1 − 12/28 < 0.8
        #expect(analysis.recommendation.signalFraction >= ProbeAnalysis.enoughSignal)
    }

    @Test func withoutEnoughSignalAnywhereTheBestIsRecommendedAndSaidSo() {
        // Two groups all wrong, one with a single right answer: a third of the groups at best.
        let flat = [group(.detect, Array(repeating: 0, count: 8)), group(.detect, Array(repeating: 0, count: 8)),
                    group(.detect, [0, 0, 0, 0, 0, 0, 0, 1])]
        let analysis = ProbeAnalysis(groupsByTemperature: [(1.0, flat)], jobGroupSize: 4, jobTemperature: 1.0)
        #expect(analysis.recommendation.rolloutsPerGroup == 8)
        #expect(abs(analysis.recommendation.signalFraction - 1.0 / 3) < 1e-12)
        #expect(analysis.recommendation.reason.contains("no probed setting gives most groups signal"))
    }
}
