import Foundation
import Testing
@testable import MoontuneCLI
@testable import MoontuneReport
import MoontuneJob

@Suite struct CostEstimateTests {
    func config(steps: Int = 10, groups: Int = 8, rollouts: Int = 4, concurrency: Int = 4, sft: Int = 0, staleness: Int = 0,
                checkpointEvery: Int = 5, evalEvery: Int? = 5, maxExamples: Int = 6, push: Bool = true) -> JobConfig {
        var train = TrainConfig()
        train.steps = steps
        train.groupsPerStep = groups
        train.rolloutsPerGroup = rollouts
        train.concurrency = concurrency
        train.sftSteps = sft
        train.maxStaleness = staleness
        var api = APIConfig()
        api.pushMetrics = push
        var eval = evalEvery.map { EvalConfig(everySteps: $0) }
        eval?.maxExamples = maxExamples
        let url = URL(fileURLWithPath: "/tmp/c.json")
        return JobConfig(name: "j", rank: 8, api: api, data: DataConfig(train: url), train: train,
                         checkpoint: CheckpointConfig(everySteps: checkpointEvery), eval: eval, sourceURL: url)
    }

    @Test func requestsAndRolloutsAreCountedForTrainingAndEval() {
        let estimate = CostEstimate(config: config(), evalExamples: 20, trainImageBytes: 3000, evalImageBytes: 3000,
                                    latency: 2, trainLatency: 30)
        #expect(estimate.trainRolloutRequests == 80)
        #expect(estimate.trainRollouts == 320)
        #expect(estimate.evals == 3)          // before step 1, after 5 and after 10
        #expect(estimate.evalRollouts == 18)  // 6 examples each
        #expect(estimate.checkpointSaves == 2)
        #expect(estimate.metricsPushes == 13)
        #expect(estimate.requests == 80 + 10 + 18 + 2 + 13)
        // 3,000 bytes → 4,000 base64 + the data URL's prefix; an RL group's image goes out twice.
        #expect(estimate.imageBytes == Double(80 * 2 * 4023 + 18 * 4023))
    }

    @Test func sftStepsAskForNoRolloutsAndSendTheirImageOnce() {
        let estimate = CostEstimate(config: config(sft: 4, evalEvery: nil), evalExamples: nil, trainImageBytes: 3, evalImageBytes: 0,
                                    latency: 1, trainLatency: 10)
        #expect(estimate.trainRolloutRequests == 6 * 8)
        #expect(estimate.sftSteps == 4)
        #expect(estimate.evals == 0)
        #expect(estimate.imageBytes == Double(6 * 8 * 2 * 27 + 4 * 8 * 27))
    }

    @Test func wallTimeOverlapsOnlyWhereStalenessLetsIt() {
        // 8 groups through a window of 4: two rounds of 2 s, then a 30 s train step.
        let onPolicy = CostEstimate(config: config(evalEvery: nil), evalExamples: nil, trainImageBytes: 0, evalImageBytes: 0,
                                    latency: 2, trainLatency: 30)
        #expect(onPolicy.lowSeconds == 10 * 34)
        #expect(abs(onPolicy.highSeconds - 10 * 34 * 1.2) < 1e-9)
        let pipelined = CostEstimate(config: config(staleness: 1, evalEvery: nil), evalExamples: nil, trainImageBytes: 0,
                                     evalImageBytes: 0, latency: 2, trainLatency: 30)
        #expect(pipelined.lowSeconds == 10 * 30)
        #expect(pipelined.highSeconds == onPolicy.highSeconds)
    }

    @Test func durationsParse() {
        #expect(CostEstimate.parseDuration("2s") == 2)
        #expect(CostEstimate.parseDuration("500ms") == 0.5)
        #expect(CostEstimate.parseDuration("1.5m") == 90)
        #expect(CostEstimate.parseDuration("2min") == 120)
        #expect(CostEstimate.parseDuration("1h") == 3600)
        #expect(CostEstimate.parseDuration("7") == 7)
        #expect(CostEstimate.parseDuration("fast") == nil)
        #expect(CostEstimate.parseDuration("-1s") == nil)
    }
}
