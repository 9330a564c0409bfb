import Foundation
import Testing
@testable import MoontuneReport
import MoontuneJob
import MoontuneStore

@Suite struct SignalCostTests {
    @Test func theEstimateSaysHowManyRolloutsSkippingConstantGroupsMayTakeAtMost() {
        var config = CostEstimateTests().config(sft: 2, evalEvery: nil)
        let plain = CostEstimate(config: config, evalExamples: nil, trainImageBytes: 3000, evalImageBytes: 0, latency: 2, trainLatency: 30)
        #expect(plain.mostTrainRollouts == nil)
        #expect(!plain.render(latency: 2, trainLatency: 30, sampledImages: 1).contains("skip_constant_groups"))
        config.train.skipConstantGroups = true
        let skipping = CostEstimate(config: config, evalExamples: nil, trainImageBytes: 3000, evalImageBytes: 0, latency: 2, trainLatency: 30)
        #expect(skipping.trainRollouts == plain.trainRollouts, "the expected cost is the steps' own batches")
        #expect(skipping.mostTrainRollouts == 8 * 8 * 4 * 4, "8 RL steps of 8 groups of 4 rollouts, 4 attempts each")
        #expect(skipping.render(latency: 2, trainLatency: 30, sampledImages: 1)
            .contains("  signal     train.skip_constant_groups: a step without signal tries up to 3 more batches, so training takes up to 1,024 rollouts"))
    }
}

@Suite struct SignalReportTests {
    @Test func theReportAndStatusSayHowManyStepsWereSkippedAndGroupsDropped() throws {
        var report = ReportRenderingTests().report()
        report.groupSignal = GroupSignalTotals(skippedSteps: 2, groupsTried: 40, groupsKept: 10, groupsDropped: 30, steps: 3)
        let rows = ReportHTML.summary(ReportData(report: report, configJSON: "{}", series: [], evals: [], generatedAtMs: 0))
        #expect(rows.contains { $0.0 == "Groups without signal" && $0.1 == "2 steps skipped (no group with signal), 30 of 40 groups "
            + "dropped for equal rewards (75%)" })
        #expect(StatusText.detail(report, events: []).contains("  signal     2 steps skipped"))
        #expect(try StatusDocument(jobs: [report]).encoded().contains(#""group_signal" : {"#))
        report.groupSignal = nil
        #expect(!ReportHTML.summary(ReportData(report: report, configJSON: "{}", series: [], evals: [], generatedAtMs: 0))
            .contains { $0.0 == "Groups without signal" })
    }
}
