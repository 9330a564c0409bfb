import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import MoontuneCLI
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

@Suite struct ReportRenderingTests {
    func report(name: String = "demo", error: String? = nil) -> JobStatusReport {
        JobStatusReport(name: name, finetuneID: "01FT", state: "completed", step: 3, totalSteps: 3, lastCheckpointStep: 3, rewardMean: 0.7,
                        pid: nil, updatedAtMs: 0, lastError: error, host: nil, heartbeatMs: nil, heartbeatAgeSeconds: nil, startedAtMs: 0,
                        createdAtMs: 0, stepsPerMinute: nil, etaSeconds: nil, rewardStd: 0.1, recentRewardMeans: [], rewardTrend: [],
                        perSkill: [:], lastEval: nil,
                        checkpoints: [.init(step: 3, checkpointID: "c3", kind: "final", state: "saved", model: "moondream3-preview/01FT@3",
                                            savedAtMs: 0, deletedAtMs: nil)],
                        retries: 0, reconciliations: 0, pendingIntent: nil, baseURL: "http://127.0.0.1:1/v1", configPath: "/c.json")
    }

    func parses(_ html: String) -> Bool {
        XMLParser(data: Data(html.utf8)).parse()
    }

    @Test func hostileTextIsEscapedAndTheReportStaysWellFormed() {
        let data = ReportData(report: report(name: "x<y>&\"z'", error: "<script>alert(1)</script>\nline two"),
                              configJSON: #"{"name": "<b>"}"#,
                              series: (1...3).map { StepPoint(k: $0, appliedAtMs: Int64($0), rewardMean: 0.2 * Double($0), rewardStd: 0.1,
                                                              constantGroupFraction: 0.5, wallMs: 100) },
                              evals: [EvalRecord(jobID: 1, step: 3, rewardMean: 0.8, count: 4, perSkillJSON: "{}", atMs: 0)], generatedAtMs: 0)
        let html = ReportHTML.render(data)
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;"))
        #expect(parses(html))
        #expect(html.contains("moondream3-preview/01FT@3"))
    }

    @Test func aJobWithNoStepsYetStillRendersEveryChart() {
        let html = ReportHTML.render(ReportData(report: report(), configJSON: "{}", series: [], evals: [], generatedAtMs: 0))
        #expect(parses(html))
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(html.components(separatedBy: "no data yet").count - 1 == 4)
    }

    @Test func longSeriesAreThinnedToABoundedNumberOfPoints() {
        let points = (1...10_000).map { SVGChart.Point(x: Double($0), y: Double($0 % 7) / 7) }
        let chart = SVGChart(title: "t", xLabel: "step", yLabel: "r", yRange: 0...1,
                             series: [SVGChart.Series(name: "mean", color: "#000", points: points)])
        let svg = chart.render()
        let polyline = svg.split(separator: "\n").first { $0.hasPrefix("<polyline") } ?? ""
        #expect(polyline.split(separator: " ").count - 3 <= SVGChart.maxPoints, "at most maxPoints coordinates")
        #expect(parses(svg))
    }

    @Test func axesEndOnRoundNumbersThatCoverTheData() {
        let axis = SVGChart.niceAxis(low: 1, high: 37)
        #expect(axis.low <= 1 && axis.high >= 37)
        #expect(axis.ticks.count >= 3 && axis.ticks.count <= 8)
        #expect(axis.ticks.allSatisfy { $0 == $0.rounded() })
        let unit = SVGChart.niceAxis(low: 0, high: 1)
        #expect(unit.ticks.first == 0 && unit.ticks.last == 1)
    }
}
