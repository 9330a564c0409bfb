import Foundation
import MoondreamAPI
import MoontuneJob
@testable import MoontuneCLI
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

/// Issue 24: the graders in export, status, probe and validate's cost estimate.
@Suite struct GraderReportingTests {
    @Test func exportAddsARewardColumnPerGraderFilledOnStepRows() throws {
        var row = MetricsRow(step: StepRecord(jobID: 1, k: 3, state: .applied, exampleIDs: "[]", intentAtMs: 1, reconciled: false, retries: 0))
        row.graderScores = ["judge": 0.75, "overlap": 0.5]
        let graders = ["judge", "overlap"]
        let header = try #require(MetricsFormat.csv.header(graders: graders))
        #expect(header.hasSuffix(",reward_judge,reward_overlap\n"))
        let cells = MetricsFormat.csv.line(row, graders: graders).dropLast().split(separator: ",", omittingEmptySubsequences: false)
        #expect(cells.count == MetricsRow.columns.count + 2)
        #expect(cells.suffix(2) == ["0.75", "0.5"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(MetricsFormat.jsonl.line(row, graders: graders).utf8)) as? [String: Any])
        #expect((json["reward_judge"] as? NSNumber)?.doubleValue == 0.75)
        // An eval row has no grader figures: empty cells, null in JSON.
        let eval = MetricsRow(eval: EvalRecord(jobID: 1, step: 3, rewardMean: 0.5, count: 2, perSkillJSON: "{}", atMs: 1))
        #expect(MetricsFormat.csv.line(eval, graders: graders).hasSuffix(",,\n"))
        // Without graders the export is as before.
        #expect(MetricsFormat.csv.header == MetricsRow.columns.joined(separator: ",") + "\n")
    }

    @Test func theCostEstimateCountsOneJudgeCallPerRolloutScoredInTrainingAndEval() throws {
        var train = TrainConfig()
        (train.steps, train.groupsPerStep, train.rolloutsPerGroup) = (10, 8, 4)
        let url = URL(fileURLWithPath: "/tmp/c.json")
        var eval = EvalConfig(everySteps: 5)
        eval.maxExamples = 6
        var config = JobConfig(name: "j", rank: 8, data: DataConfig(train: url), train: train, checkpoint: CheckpointConfig(everySteps: 5),
                               eval: eval, sourceURL: url)
        config.reward.graders = [
            GraderConfig(name: "match", weight: 0.5, kind: .builtin),
            GraderConfig(name: "judge", weight: 0.5, kind: .model(ModelGraderConfig(baseURL: "http://127.0.0.1:9/v1", model: "m", prompt: "{answer}"))),
        ]
        let estimate = CostEstimate(config: config, evalExamples: 20, trainImageBytes: 0, evalImageBytes: 0, latency: 2, trainLatency: 30)
        // 10 steps × 8 groups × 4 rollouts, plus 3 evals × 6 examples.
        #expect(estimate.judgeCalls == ["judge": 320 + 18])
        #expect(estimate.render(latency: 2, trainLatency: 30, sampledImages: 0).contains("grader \"judge\": 338 chat completions calls"))
        config.train.skipConstantGroups = true
        let most = CostEstimate(config: config, evalExamples: 20, trainImageBytes: 0, evalImageBytes: 0, latency: 2, trainLatency: 30)
        #expect(most.judgeCalls == ["judge": 320 * (1 + TrainConfig.maxExtraAttempts) + 18])
    }

    @Test func statusShowsEachGradersMeanAtTheLastStep() throws {
        var report = JobStatusReport(name: "g", finetuneID: nil, state: "running", step: 4, totalSteps: 9, lastCheckpointStep: nil,
                                     rewardMean: 0.6, pid: 7, updatedAtMs: 0, lastError: nil, host: nil, heartbeatMs: nil,
                                     heartbeatAgeSeconds: nil, startedAtMs: nil, createdAtMs: 0, stepsPerMinute: nil, etaSeconds: nil,
                                     rewardStd: nil, recentRewardMeans: [], rewardTrend: [], perSkill: [:], lastEval: nil, checkpoints: [],
                                     retries: 0, reconciliations: 0, pendingIntent: nil, baseURL: "http://127.0.0.1:1/v1", configPath: "/c.json")
        #expect(!StatusText.detail(report, events: []).contains("graders"))
        report.graders = ["overlap": 0.5, "judge": 0.75]
        #expect(StatusText.detail(report, events: []).contains("graders    judge 0.750  overlap 0.500  (mean score at step 4)"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(try StatusDocument(jobs: [report]).encoded().utf8)) as? [String: Any])
        let job = try #require((document["jobs"] as? [[String: Any]])?.first)
        #expect(((job["graders"] as? [String: Any])?["judge"] as? NSNumber)?.doubleValue == 0.75)
    }

    @Test func probeReportsEachGradersMeanAndSignal() throws {
        var constant = ProbeAnalysis.Group(skill: .query, rewards: [1, 1], finishReasons: [nil, nil], answerLengths: [nil, nil])
        constant.graderScores = ["judge": [1, 1], "overlap": [0, 1]]
        var varied = ProbeAnalysis.Group(skill: .query, rewards: [0, 1], finishReasons: [nil, nil], answerLengths: [nil, nil])
        varied.graderScores = ["judge": [1, 1], "overlap": [0.5, 0.5]]
        let analysis = ProbeAnalysis(groupsByTemperature: [(1.0, [constant, varied])], jobGroupSize: 2, jobTemperature: 1)
        let graders = try #require(analysis.temperatures.first?.graders)
        #expect(graders["judge"] == ProbeAnalysis.GraderFigures(meanScore: 1, rollouts: 4, signalFraction: 0))
        #expect(graders["overlap"] == ProbeAnalysis.GraderFigures(meanScore: 0.5, rollouts: 4, signalFraction: 0.5))
        #expect(analysis.text().contains("grader judge: mean score 1.000 over 4 rollouts, signal in 0% of groups"))
    }
}
