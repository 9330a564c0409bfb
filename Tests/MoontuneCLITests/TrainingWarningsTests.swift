import Testing
@testable import MoontuneReport
@testable import MoontuneStore

@Suite struct TrainingWarningsTests {
    func series(_ means: [Double], constant: Double = 0.2) -> [StepPoint] {
        means.enumerated().map { StepPoint(k: $0.offset + 1, rewardMean: $0.element, rewardStd: 0.1, constantGroupFraction: constant) }
    }

    func eval(_ step: Int, _ reward: Double) -> EvalRecord {
        EvalRecord(jobID: 1, step: step, rewardMean: reward, count: 10, perSkillJSON: "{}", atMs: 0)
    }

    @Test func mostGroupsConstantForTenStepsInARowWarns() {
        #expect(TrainingWarnings.check(series: series(Array(repeating: 0.5, count: 12), constant: 0.75), evals: [])
            .contains { $0.contains("no learning signal") })
        var mixed = series(Array(repeating: 0.5, count: 12), constant: 0.75)
        mixed[8].constantGroupFraction = 0.25
        #expect(TrainingWarnings.check(series: mixed, evals: []).isEmpty, "one step with signal breaks the run")
    }

    @Test func aRewardCollapseWarns() {
        let steady = Array(repeating: 0.6, count: 21).enumerated().map { $0.element + ($0.offset % 2 == 0 ? 0.01 : -0.01) }
        #expect(TrainingWarnings.check(series: series(steady + [0.1]), evals: []).contains { $0.contains("reward collapse") })
        #expect(TrainingWarnings.check(series: series(steady + [0.55]), evals: []).isEmpty)
    }

    @Test func evalFallingWhileTrainRisesWarns() {
        let rising = (0..<20).map { 0.2 + Double($0) * 0.02 }
        let evals = [eval(0, 0.3), eval(5, 0.6), eval(10, 0.45), eval(15, 0.4)]
        #expect(TrainingWarnings.check(series: series(rising), evals: evals).contains { $0.contains("eval reward is falling") })
        let improving = [eval(0, 0.3), eval(5, 0.4), eval(10, 0.5), eval(15, 0.6)]
        #expect(TrainingWarnings.check(series: series(rising), evals: improving).isEmpty)
    }
}
