import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Local rewards")
struct LocalRewardsTests {
    private func box(_ xMin: Double, _ yMin: Double, _ xMax: Double, _ yMax: Double) -> Box {
        Box(xMin: xMin, yMin: yMin, xMax: xMax, yMax: yMax)
    }

    // MARK: Point with points

    @Test func pointOnTheTruthScoresOne() {
        #expect(LocalRewards.pointDistance(predicted: [Point(x: 0.3, y: 0.3)], truth: [Point(x: 0.3, y: 0.3)]) == 1)
    }

    @Test func pointScoreFallsLinearlyToZeroAtTheRadius() {
        let truth = [Point(x: 0.5, y: 0.5)]
        #expect(abs(LocalRewards.pointDistance(predicted: [Point(x: 0.6, y: 0.5)], truth: truth) - 0.5) < 1e-12)
        #expect(abs(LocalRewards.pointDistance(predicted: [Point(x: 0.5, y: 0.65)], truth: truth) - 0.25) < 1e-12)
        // 3-4-5 triangle: d = 0.2 exactly, the edge of the radius.
        #expect(LocalRewards.pointDistance(predicted: [Point(x: 0.62, y: 0.66)], truth: truth) < 1e-12)
        #expect(LocalRewards.pointDistance(predicted: [Point(x: 0.9, y: 0.9)], truth: truth) == 0)
    }

    @Test func eachPredictedPointTakesItsNearestTruthAndScoresAreAveraged() {
        let truth = [Point(x: 0.1, y: 0.1), Point(x: 0.9, y: 0.9)]
        let predicted = [Point(x: 0.1, y: 0.1), Point(x: 0.9, y: 0.8), Point(x: 0.5, y: 0.5)]
        // 1, 0.5 (d = 0.1 to the second), 0 (far from both) → mean 0.5.
        #expect(abs(LocalRewards.pointDistance(predicted: predicted, truth: truth) - 0.5) < 1e-12)
    }

    @Test func noPredictedPointScoresZeroAndNoTruthScoresZero() {
        #expect(LocalRewards.pointDistance(predicted: [], truth: [Point(x: 0.5, y: 0.5)]) == 0)
        #expect(LocalRewards.pointDistance(predicted: [Point(x: 0.5, y: 0.5)], truth: []) == 0)
    }

    // MARK: Point with boxes

    @Test func containmentIsTheFractionOfPointsInsideAnyBox() {
        let truth = [box(0.1, 0.1, 0.3, 0.3), box(0.6, 0.6, 0.9, 0.9)]
        let predicted = [Point(x: 0.2, y: 0.2), Point(x: 0.7, y: 0.8), Point(x: 0.5, y: 0.5), Point(x: 0.0, y: 1.0)]
        #expect(LocalRewards.pointContainment(predicted: predicted, truth: truth) == 0.5)
    }

    @Test func containmentIncludesTheEdges() {
        let truth = [box(0.1, 0.2, 0.4, 0.6)]
        #expect(LocalRewards.pointContainment(predicted: [Point(x: 0.1, y: 0.6)], truth: truth) == 1)
        #expect(LocalRewards.pointContainment(predicted: [Point(x: 0.4, y: 0.2)], truth: truth) == 1)
        #expect(LocalRewards.pointContainment(predicted: [Point(x: 0.40001, y: 0.3)], truth: truth) == 0)
    }

    @Test func containmentWithoutPredictionsIsZero() {
        #expect(LocalRewards.pointContainment(predicted: [], truth: [box(0, 0, 1, 1)]) == 0)
    }

    // MARK: Detect F1

    @Test func perfectDetectionScoresOne() {
        let truth = [box(0.1, 0.1, 0.3, 0.3), box(0.5, 0.5, 0.9, 0.9)]
        #expect(LocalRewards.detectF1(predicted: truth.reversed(), truth: truth) == 1)
    }

    @Test func bothEmptyScoresOneAndOneSideEmptyScoresZero() {
        #expect(LocalRewards.detectF1(predicted: [], truth: []) == 1)
        #expect(LocalRewards.detectF1(predicted: [], truth: [box(0, 0, 1, 1)]) == 0)
        #expect(LocalRewards.detectF1(predicted: [box(0, 0, 1, 1)], truth: []) == 0)
    }

    @Test func iouOfExactlyOneHalfMatchesAndJustBelowDoesNot() {
        let truth = [box(0, 0, 0.5, 1)]
        // Half the truth's width (values exact in binary): intersection 0.25, union 0.5 → IoU 0.5.
        #expect(LocalRewards.detectF1(predicted: [box(0, 0, 0.25, 1)], truth: truth) == 1)
        #expect(LocalRewards.detectF1(predicted: [box(0, 0, 0.2499, 1)], truth: truth) == 0)
    }

    @Test func f1CountsExtraAndMissedBoxes() {
        let truth = [box(0.0, 0.0, 0.2, 0.2), box(0.5, 0.5, 0.7, 0.7), box(0.8, 0.0, 1.0, 0.2)]
        let predicted = [box(0.0, 0.0, 0.2, 0.2), box(0.5, 0.5, 0.7, 0.7), box(0.3, 0.8, 0.4, 0.9), box(0.0, 0.8, 0.1, 0.9)]
        // TP 2, P = 2/4, R = 2/3 → F1 = 2·(1/2)(2/3)/(1/2 + 2/3) = 4/7.
        #expect(abs(LocalRewards.detectF1(predicted: predicted, truth: truth) - 4.0 / 7.0) < 1e-12)
    }

    @Test func oneTruthIsMatchedOnceEvenWhenTwoPredictionsOverlapIt() {
        let truth = [box(0.1, 0.1, 0.5, 0.5)]
        let predicted = [box(0.1, 0.1, 0.5, 0.5), box(0.12, 0.1, 0.5, 0.5)]
        // TP 1, P = 1/2, R = 1 → F1 = 2/3.
        #expect(abs(LocalRewards.detectF1(predicted: predicted, truth: truth) - 2.0 / 3.0) < 1e-12)
    }

    @Test func greedyMatchingTakesTheHighestIoUFirst() {
        // A matches Y exactly and is taken first; B overlaps Y at about 0.9 but Y is taken, and
        // its overlap with X is far below 0.5, so B stays unmatched.
        let x = box(0.0, 0.0, 0.4, 0.4), y = box(0.3, 0.0, 0.7, 0.4)
        let a = box(0.3, 0.0, 0.7, 0.4)       // IoU with y = 1
        let b = box(0.32, 0.0, 0.72, 0.4)     // IoU with y ≈ 0.9, with x ≈ 0.1
        let matches = LocalRewards.greedyMatch([b, a], [x, y], minimumIoU: 0.5)
        #expect(matches == [1])
        #expect(abs(LocalRewards.detectF1(predicted: [b, a], truth: [x, y]) - 0.5) < 1e-12)
    }

    // MARK: Detect mean IoU

    @Test func meanIoUDividesByTheLargerCount() {
        let truth = [box(0, 0, 0.5, 1), box(0.6, 0.6, 0.8, 0.8)]
        let predicted = [box(0, 0, 0.25, 1)]
        #expect(abs(LocalRewards.detectMeanIoU(predicted: predicted, truth: truth) - 0.25) < 1e-12)
        #expect(LocalRewards.detectMeanIoU(predicted: truth, truth: truth) == 1)
        #expect(LocalRewards.detectMeanIoU(predicted: [], truth: []) == 1)
        #expect(LocalRewards.detectMeanIoU(predicted: [], truth: truth) == 0)
        #expect(LocalRewards.detectMeanIoU(predicted: [box(0.9, 0.9, 1, 1)], truth: [box(0, 0, 0.1, 0.1)]) == 0)
    }

    // MARK: Scoring rollouts with a config

    private func rollout(_ json: String, skill: Skill) throws -> Rollout {
        Rollout(raw: try RawJSON(validating: json), skill: skill)
    }

    @Test func localScorerScoresEachRolloutInOrder() throws {
        var config = RewardConfig()
        config.source = .local
        let example = Example(index: 0, id: "a", line: 1, skill: .point, image: nil, object: "dot",
                              groundTruth: .points([Point(x: 0.5, y: 0.5)]))
        let rollouts = [
            try rollout(#"{"skill": "point", "output": {"points": [{"x": 0.5, "y": 0.5}]}, "meta": 1}"#, skill: .point),
            try rollout(#"{"skill": "point", "output": {"points": []}}"#, skill: .point),
            try rollout(#"{"skill": "point", "output": {"oops": true}}"#, skill: .point),
            try rollout(#"{"skill": "point", "output": {"points": [{"x": 0.6, "y": 0.5}]}}"#, skill: .point),
        ]
        let rewards = try BuiltinRewardScorer(config: config).score(example, rollouts, [0.9, 0.9, 0.9, 0.9])
        #expect(rewards.count == 4)
        #expect(rewards[0] == 1)
        #expect(rewards[1] == 0)
        #expect(rewards[2] == 0)
        #expect(abs(rewards[3] - 0.5) < 1e-12)
    }

    @Test func serverScorerTakesTheServersRewardsAsTheyAre() throws {
        let example = Example(index: 0, id: "a", line: 4, skill: .detect, image: nil, object: "car", groundTruth: .boxes([]))
        let rollouts = try (0..<3).map { _ in try rollout(#"{"skill": "detect", "output": {"objects": []}}"#, skill: .detect) }
        let scorer = BuiltinRewardScorer(config: RewardConfig())
        #expect(try scorer.score(example, rollouts, [0.1, -2, 7]) == [0.1, -2, 7])
        #expect(throws: RewardError.self) { try scorer.score(example, rollouts, nil) }
        do {
            _ = try scorer.score(example, rollouts, [0.1, 0.2])
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .missingServerRewards)
            #expect(error.message.contains("2 rewards for 3 rollouts"))
        }
        do {
            _ = try scorer.score(example, rollouts, [0.1, .nan, 0.3])
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .nonFinite)
        }
    }

    @Test func queryIsAlwaysScoredLocallyEvenWithServerSource() throws {
        let example = Example(index: 0, id: "q", line: 1, skill: .query, image: nil, question: "color?", answers: ["red", "crimson"])
        let rollouts = [
            try rollout(#"{"skill": "query", "output": {"answer": "Red.", "reasoning": null}}"#, skill: .query),
            try rollout(#"{"skill": "query", "output": {"answer": "It is blue"}}"#, skill: .query),
            try rollout(#"{"skill": "query", "output": {"answer": "the crimson"}}"#, skill: .query),
        ]
        #expect(try BuiltinRewardScorer(config: RewardConfig()).score(example, rollouts, nil) == [1, 0, 1])
    }

    @Test func detectScorerUsesTheConfiguredLocalReward() throws {
        var config = RewardConfig()
        config.source = .local
        config.detect = .meanIoU
        let example = Example(index: 0, id: "d", line: 1, skill: .detect, image: nil, object: "x",
                              groundTruth: .boxes([box(0, 0, 0.5, 1)]))
        let rollouts = [try rollout(#"{"output": {"objects": [{"x_min": 0, "y_min": 0, "x_max": 0.25, "y_max": 1}]}}"#, skill: .detect)]
        #expect(try BuiltinRewardScorer(config: config).score(example, rollouts, nil) == [0.5])
        config.detect = .f1
        #expect(try BuiltinRewardScorer(config: config).score(example, rollouts, nil) == [1])
    }
}
