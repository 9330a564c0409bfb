import Foundation
@testable import MoontuneConfig
@testable import MoontuneStore
@testable import MoontuneTracking
import Testing

@Suite struct TrackingConfigTests {
    func load(_ tracking: String) throws -> (config: JobConfig?, problems: [Problem], folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tracking-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let text = """
            {
              "name": "job",
              "rank": 8,
              "data": {"train": "train.jsonl"},
              "train": {"steps": 3},
              "tracking": \(tracking)
            }
            """
        let url = folder.appendingPathComponent("config.json")
        try Data(text.utf8).write(to: url)
        do {
            return (try JobConfig.load(from: url).config, [], folder)
        } catch {
            return (nil, error.problems, folder)
        }
    }

    @Test func theContractsSectionReadsWithTheLogdirBesideTheConfig() throws {
        let (config, problems, folder) = try load("""
            {"tensorboard": {"logdir": "runs"}, "mlflow": {"tracking_uri": "http://127.0.0.1:5000/", "experiment": "moontune"}}
            """)
        #expect(problems.isEmpty, "\(problems)")
        #expect(config?.tracking?.tensorboard?.logdir.path == folder.appendingPathComponent("runs").standardizedFileURL.path)
        #expect(config?.tracking?.mlflow == MLflowConfig(trackingURI: "http://127.0.0.1:5000", experiment: "moontune"))
    }

    @Test func aBadSectionIsALocatedProblem() throws {
        let (config, problems, _) = try load("""
            {"tensorboard": {"logdir": ""},
             "mlflow": {"tracking_uri": "ftp://x", "experiment": "e", "colour": 1},
             "wandb": {}}
            """)
        #expect(config == nil)
        let fields = Set(problems.map(\.field))
        #expect(fields.isSuperset(of: ["tracking.tensorboard.logdir", "tracking.mlflow.tracking_uri", "tracking.mlflow.colour",
                                       "tracking.wandb"]), "\(problems)")
        #expect(problems.allSatisfy { $0.line != nil && $0.file.hasSuffix("config.json") }, "\(problems)")
        let line = try #require(problems.first { $0.field == "tracking.mlflow.tracking_uri" }?.line)
        #expect(line == 7)
    }

    @Test func credentialsInTheURIAreRefused() throws {
        let (_, problems, _) = try load("""
            {"mlflow": {"tracking_uri": "http://me:hunter2@127.0.0.1:5000", "experiment": "e"}}
            """)
        #expect(problems.map(\.field) == ["tracking.mlflow.tracking_uri"])
        #expect(problems.first?.message.contains("MLFLOW_TRACKING_USERNAME") == true)
    }

    @Test func paramsAreTheConfigFlattenedWithDots() throws {
        let (config, _, _) = try load("""
            {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "experiment": "e"}}
            """)
        let params = Dictionary(uniqueKeysWithValues: MLflowTracker.params(try #require(config)).map { ($0.key, $0.value) })
        #expect(params["rank"] == "8")
        #expect(params["train.steps"] == "3")
        #expect(params["train.groups_per_step"] == "8")
        #expect(params["tracking.mlflow.experiment"] == "e")
        #expect(params.keys.allSatisfy { !$0.isEmpty && !$0.hasPrefix(".") })
    }

    @Test func aStepsScalarsCarryTheAnswersNumbersBesideMoontunes() {
        var step = StepRecord(jobID: 1, k: 3, state: .applied, exampleIDs: "[]", intentAtMs: 0, appliedAtMs: 10, reconciled: false,
                              rewardMean: 0.5, rewardStd: 0.1, wallMs: 1500, retries: 2, lr: 0.002)
        step.train = TrainNumbers(kl: 0.01, gradNorm: 2, rewardMean: 0.4)
        let scalars = Dictionary(uniqueKeysWithValues: TrackedPoints.scalars(step: step, rolloutsSpent: 96).map { ($0.name, $0.value) })
        #expect(scalars["train/reward_mean"] == 0.5)
        #expect(scalars["train/server_reward_mean"] == 0.4)
        #expect(scalars["train/kl"] == 0.01)
        #expect(scalars["train/grad_norm"] == 2)
        #expect(scalars["train/lr"] == 0.002)
        #expect(scalars["train/step_seconds"] == 1.5)
        #expect(scalars["budget/rollouts"] == 96)
        #expect(scalars["train/sft_loss"] == nil)
    }

    @Test func anEvalsScalarsArePerSkill() {
        let eval = EvalRecord(jobID: 1, step: 4, rewardMean: 0.6, count: 6,
                              perSkillJSON: #"{"detect":{"mean":0.5,"std":0,"min":0,"max":1,"count":3,"f1":0.5,"precision":0.4,"recall":0.7},"query":{"mean":0.7,"std":0,"min":0,"max":1,"count":3,"accuracy":0.66}}"#,
                              atMs: 5)
        let names = TrackedPoints.scalars(eval: eval).map(\.name)
        #expect(names == ["eval/reward_mean", "eval/n", "eval/detect/reward_mean", "eval/detect/precision", "eval/detect/recall",
                          "eval/detect/f1", "eval/query/reward_mean", "eval/query/accuracy"])
    }
}
