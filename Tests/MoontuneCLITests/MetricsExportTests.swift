import Foundation
@testable import MoontuneCLI
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

@Suite struct MetricsExportTests {
    func step(_ k: Int, metrics: String?) -> StepRecord {
        StepRecord(jobID: 1, k: k, state: .applied, exampleIDs: "[]", intentAtMs: 1000, appliedAtMs: 2000, reconciled: k == 2,
                   rewardMean: 0.5, rewardStd: 0.25, rewardMin: 0, rewardMax: 1, constantGroupFraction: 0.125, rolloutLatencyMs: 80,
                   trainLatencyMs: 20, wallMs: 150, retries: 1, metricsJSON: metrics)
    }

    @Test func aStepRowCarriesTheLrAndTheTrainStepAnswersNumbers() {
        var record = step(3, metrics: nil)
        record.mode = .rl
        record.lr = 0.002
        record.serverStep = 3
        record.train = TrainNumbers(kl: 0.01, routerKL: nil, gradNorm: 1.5, sftLoss: nil, rewardMean: 0.4, rewardStd: 0.2)
        let row = MetricsRow(step: record)
        let csv = MetricsFormat.csv.line(row)
        #expect(csv.hasSuffix(",rl,0.002,3,0.01,,1.5,,0.4,0.2,,,,false,,,,,,,,\n"))
        let header = MetricsRow.columns.dropLast(12).suffix(9)
        #expect(Array(header) == ["mode", "lr", "server_step", "kl", "router_kl", "grad_norm", "sft_loss", "server_reward_mean", "server_reward_std"])
    }

    @Test func aStepRowTakesItsCountAndPerSkillMeansFromTheMetricsJSON() {
        let json = #"{"rewards":{"mean":0.5,"std":0.25,"min":0,"max":1,"count":12},"per_skill":{"point":{"mean":0.75,"std":0.1,"min":0.5,"max":1,"count":8}}}"#
        let row = MetricsRow(step: step(2, metrics: json))
        #expect(row.n == 12)
        #expect(row.perSkill == ["point": 0.75])
        #expect(row.reconciled == true)
        let csv = MetricsFormat.csv.line(row)
        #expect(csv == "step,2,2000,0.5,0.25,0.0,1.0,12,0.125,80.0,20.0,150.0,1,true,0.75,,,,,,,,,,,,,,,false,,,,,,,,\n")
        #expect(csv.split(separator: ",", omittingEmptySubsequences: false).count == MetricsRow.columns.count)
    }

    @Test func anEvalRowHasItsCountAndPerSkillMeansAndNullsElsewhere() throws {
        let eval = EvalRecord(jobID: 1, step: 10, rewardMean: 0.6, count: 24,
                              perSkillJSON: #"{"detect":{"mean":0.4,"std":0,"min":0.1,"max":0.9,"count":12},"query":{"mean":0.8,"std":0,"min":0,"max":1,"count":12}}"#,
                              atMs: 5000)
        let line = MetricsFormat.jsonl.line(MetricsRow(eval: eval))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(Set(object.keys) == Set(MetricsRow.columns))
        #expect(object["kind"] as? String == "eval")
        #expect(object["n"] as? Int == 24)
        #expect(object["reward_detect"] as? Double == 0.4)
        #expect(object["reward_point"] is NSNull)
        #expect(object["wall_ms"] is NSNull)
        #expect(object["reward_max"] as? Double == 1)
        #expect(object["accuracy_query"] is NSNull, "an eval recorded before its metrics has none")
    }

    @Test func anEvalRowCarriesThePerSkillMetrics() throws {
        let perSkill = #"{"detect":{"mean":0.4,"std":0,"min":0.1,"max":0.9,"count":2,"precision":0.5,"recall":0.25,"f1":0.333,"#
            + #""true_positives":1,"predicted_boxes":2,"truth_boxes":4},"point":{"mean":0.7,"std":0,"min":0,"max":1,"count":3,"#
            + #""mean_distance":0.08,"hit_rate":0.667},"query":{"mean":0.8,"std":0,"min":0,"max":1,"count":5,"accuracy":0.8}}"#
        let row = MetricsRow(eval: EvalRecord(jobID: 1, step: 10, rewardMean: 0.6, count: 10, perSkillJSON: perSkill, atMs: 5000))
        #expect(Array(MetricsRow.columns.suffix(6)) == ["accuracy_query", "precision_detect", "recall_detect", "f1_detect",
                                                        "mean_distance_point", "hit_rate_point"])
        #expect(MetricsFormat.csv.line(row).hasSuffix(",0.8,0.5,0.25,0.333,0.08,0.667\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(MetricsFormat.jsonl.line(row).utf8)) as? [String: Any])
        #expect(object["f1_detect"] as? Double == 0.333)
        #expect(object["hit_rate_point"] as? Double == 0.667)
    }

    @Test func aStepRowCarriesItsGroupSignalAndAnswerFigures() throws {
        var record = step(4, metrics: nil)
        record.groupsTried = 16
        record.groupsKept = 3
        record.groupsDropped = 13
        record.answerLengthMean = 7.5
        record.truncationRate = 0.25
        let csv = MetricsFormat.csv.line(MetricsRow(step: record))
        #expect(csv.hasSuffix(",16,3,13,false,7.5,0.25,,,,,,\n"))
        #expect(Array(MetricsRow.columns.dropLast(6).suffix(6)) == ["groups_tried", "groups_kept", "groups_dropped", "skipped",
                                                        "answer_length_mean", "truncation_rate"])
        record.skipped = true
        let line = MetricsFormat.jsonl.line(MetricsRow(step: record))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["skipped"] as? Bool == true)
        #expect(object["groups_dropped"] as? Int == 13)
    }

    @Test func csvTextWithCommasOrQuotesIsQuoted() {
        #expect(MetricsFormat.csvCell(.text("a,b")) == "\"a,b\"")
        #expect(MetricsFormat.csvCell(.text("say \"x\"")) == "\"say \"\"x\"\"\"")
        #expect(MetricsFormat.csvCell(.number(.infinity)) == "")
    }

    @Test func theCSVHeaderNamesEveryColumnOnce() {
        let header = MetricsFormat.csv.header ?? ""
        let names = header.trimmingCharacters(in: .newlines).split(separator: ",").map(String.init)
        #expect(names == MetricsRow.columns)
        #expect(Set(names).count == names.count)
        #expect(MetricsFormat.jsonl.header == nil)
    }
}
