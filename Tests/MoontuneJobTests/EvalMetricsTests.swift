import MoondreamAPI
import Testing
@testable import MoontuneConfig
@testable import MoontuneRewards

/// The eval metrics per skill, on cases computed by hand.
@Suite("Eval metrics")
struct EvalMetricsTests {
    private func box(_ xMin: Double, _ yMin: Double, _ xMax: Double, _ yMax: Double) -> Box {
        Box(xMin: xMin, yMin: yMin, xMax: xMax, yMax: yMax)
    }

    private func close(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) < 1e-12 } ?? false }

    // MARK: query

    @Test func queryAccuracyIsTheFractionOfAcceptedAnswers() {
        let examples: [EvalMetrics.Scored] = [
            .init(skill: .query, prediction: .query(answer: "The Cat.", reasoning: nil), truth: nil, answers: ["cat"]),  // accepted (normalized)
            .init(skill: .query, prediction: .query(answer: "dog", reasoning: nil), truth: nil, answers: ["cat", "kitten"]),
            .init(skill: .query, prediction: nil, truth: nil, answers: ["cat"]),  // no answer: not accepted
            .init(skill: .query, prediction: .query(answer: "kitten", reasoning: "it is small"), truth: nil, answers: ["cat", "kitten"]),
        ]
        #expect(EvalMetrics.query(examples, config: RewardConfig()).accuracy == 0.5)
    }

    @Test func queryAccuracyFollowsTheConfiguredMatch() {
        var config = RewardConfig()
        config.query = .numeric
        config.numericTolerance = 0.01
        let examples: [EvalMetrics.Scored] = [
            .init(skill: .query, prediction: .query(answer: "about 3.001 apples", reasoning: nil), truth: nil, answers: ["3"]),
            .init(skill: .query, prediction: .query(answer: "4", reasoning: nil), truth: nil, answers: ["3"]),
            .init(skill: .query, prediction: .query(answer: "3", reasoning: nil), truth: nil, answers: ["3"]),
        ]
        #expect(close(EvalMetrics.query(examples, config: config).accuracy, 2.0 / 3.0))
    }

    // MARK: detect

    @Test func detectPrecisionRecallAndF1AreSummedOverExamples() {
        // Example 1: truth A, B; predicted A' (IoU 1 with A) and C (no overlap) → TP 1, P 2, T 2.
        // Example 2: truth D; predicted D' with IoU 0.5 exactly (half of D, so IoU = 0.5) → TP 1, P 1, T 1.
        // Example 3: truth E; nothing predicted → TP 0, P 0, T 1.
        // Example 4: truth F; predicted with IoU 1/3 (below 0.5) → TP 0, P 1, T 1.
        // Sums: TP 2, P 4, T 5 → precision 0.5, recall 0.4, F1 = 4 / 9.
        let examples: [EvalMetrics.Scored] = [
            .init(skill: .detect, prediction: .detect([box(0, 0, 0.2, 0.2), box(0.8, 0.8, 0.9, 0.9)]),
                  truth: .boxes([box(0, 0, 0.2, 0.2), box(0.4, 0.4, 0.6, 0.6)])),
            .init(skill: .detect, prediction: .detect([box(0, 0, 0.2, 0.1)]), truth: .boxes([box(0, 0, 0.2, 0.2)])),
            .init(skill: .detect, prediction: .detect([]), truth: .boxes([box(0.1, 0.1, 0.3, 0.3)])),
            .init(skill: .detect, prediction: .detect([box(0, 0, 0.2, 0.2)]), truth: .boxes([box(0.1, 0, 0.3, 0.2)])),
        ]
        let metrics = EvalMetrics.detect(examples)
        #expect(metrics.truePositives == 2)
        #expect(metrics.predictedBoxes == 4)
        #expect(metrics.truthBoxes == 5)
        #expect(close(metrics.precision, 0.5))
        #expect(close(metrics.recall, 0.4))
        #expect(close(metrics.f1, 4.0 / 9.0))
        // F1 is also 2PR / (P + R).
        #expect(close(metrics.f1, 2 * 0.5 * 0.4 / 0.9))
    }

    @Test func detectMatchesOneToOneGreedily() {
        // Two predictions on the same truth box: only one matches.
        let examples: [EvalMetrics.Scored] = [
            .init(skill: .detect, prediction: .detect([box(0, 0, 0.5, 0.5), box(0, 0, 0.5, 0.45)]), truth: .boxes([box(0, 0, 0.5, 0.5)])),
        ]
        let metrics = EvalMetrics.detect(examples)
        #expect(metrics.truePositives == 1)
        #expect(close(metrics.precision, 0.5))
        #expect(close(metrics.recall, 1))
        #expect(close(metrics.f1, 2.0 / 3.0))
    }

    @Test func detectWithNothingToFindAndNothingClaimedIsPerfect() {
        let metrics = EvalMetrics.detect([.init(skill: .detect, prediction: .detect([]), truth: .boxes([]))])
        #expect(metrics.precision == 1 && metrics.recall == 1 && metrics.f1 == 1)
        let missing = EvalMetrics.detect([.init(skill: .detect, prediction: nil, truth: .boxes([box(0, 0, 1, 1)]))])
        #expect(missing.precision == 0 && missing.recall == 0 && missing.f1 == 0)
    }

    // MARK: point

    @Test func pointDistanceAndHitRateOverPredictedPoints() {
        // Example 1 (truth points): (0.5, 0.5) → 0 from (0.5, 0.5): hit; (0.5, 0.8) → 0.3 from it: miss.
        // Example 2 (truth boxes): (0.1, 0.1) inside [0, 0.2]², centre (0.1, 0.1), distance 0: hit;
        //   (0.6, 0.2) outside; nearest centre (0.9, 0.6), distance 0.5: miss.
        // Example 3: no point predicted.
        // Distances 0, 0.3, 0, 0.5 → mean 0.2; hits 2 of 4 → 0.5.
        let examples: [EvalMetrics.Scored] = [
            .init(skill: .point, prediction: .point([Point(x: 0.5, y: 0.5), Point(x: 0.5, y: 0.8)]), truth: .points([Point(x: 0.5, y: 0.5)])),
            .init(skill: .point, prediction: .point([Point(x: 0.1, y: 0.1), Point(x: 0.6, y: 0.2)]),
                  truth: .boxes([box(0, 0, 0.2, 0.2), box(0.8, 0.4, 1.0, 0.8)])),
            .init(skill: .point, prediction: .point([]), truth: .points([Point(x: 0.5, y: 0.5)])),
        ]
        let metrics = EvalMetrics.point(examples)
        #expect(metrics.predictedPoints == 4)
        #expect(metrics.noPrediction == 1)
        #expect(close(metrics.meanDistance, 0.2))
        #expect(close(metrics.hitRate, 0.5))
    }

    @Test func aPointWithinTheHitRadiusOfATruthPointHits() {
        let truth = GroundTruth.points([Point(x: 0.5, y: 0.5)])
        let near = EvalMetrics.point([.init(skill: .point, prediction: .point([Point(x: 0.55, y: 0.56)]), truth: truth)])  // d ≈ 0.078
        #expect(near.hitRate == 1)
        let far = EvalMetrics.point([.init(skill: .point, prediction: .point([Point(x: 0.5, y: 0.62)]), truth: truth)])  // d = 0.12
        #expect(far.hitRate == 0)
        #expect(close(far.meanDistance, 0.12))
    }

    @Test func perSkillGivesEachSkillItsOwnFiguresOnly() {
        let all = EvalMetrics.perSkill([
            .init(skill: .point, prediction: .point([Point(x: 0.5, y: 0.5)]), truth: .points([Point(x: 0.5, y: 0.5)])),
            .init(skill: .query, prediction: .query(answer: "yes", reasoning: nil), truth: nil, answers: ["yes"]),
        ], config: RewardConfig())
        #expect(Set(all.keys) == [.point, .query])
        #expect(all[.point]?.hitRate == 1 && all[.point]?.accuracy == nil && all[.point]?.f1 == nil)
        #expect(all[.query]?.accuracy == 1 && all[.query]?.hitRate == nil)
    }
}
