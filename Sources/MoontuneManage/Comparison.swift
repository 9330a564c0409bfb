import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import MoontuneReport
import NIOPosix

/// `compare`: scores the base model and saved checkpoints of a job on its eval (or train) set
/// with the job's rewards, and records the result in the database.
package enum Comparison {
    /// What to compare.
    package struct Request: Sendable {
        /// The job config's path.
        package var configPath: String
        /// The checkpoints; nil: every saved one.
        package var steps: [CheckpointChoice]?
        /// Also the base model (first).
        package var base: Bool
        /// "eval" or "train"; nil: eval when the config has an eval set.
        package var set: String?
        /// nil: eval.max_examples, else 50.
        package var maxExamples: Int?
        package var databasePath: String

        package init(configPath: String, steps: [CheckpointChoice]?, base: Bool, set: String?, maxExamples: Int?,
                     databasePath: String) {
            self.configPath = configPath
            self.steps = steps
            self.base = base
            self.set = set
            self.maxExamples = maxExamples
            self.databasePath = databasePath
        }
    }

    /// A comparison done and recorded.
    package struct Result: Sendable {
        package var job: String
        /// "eval" or "train".
        package var setName: String
        /// "eval (eval.jsonl)".
        package var datasetLabel: String
        package var examples: Int
        /// Rows are models (the base first), columns the mean reward per skill.
        package var table: ComparisonTable
        /// For each model, one outcome per example (what the HTML page draws).
        package var outcomes: [[CompareRunner.Outcome]]
        /// As recorded in the database.
        package var record: ComparisonRecord
    }

    /// Runs every chosen model on the same examples (under the job's concurrency bound, with
    /// retries), scores the answers with the job's rewards, and records the result. The
    /// progress line goes to standard error.
    package static func run(_ request: Request) async throws -> Result {
        let config = try APIAccess.loadConfig(request.configPath)
        let (setName, datasetURL) = try chooseDataset(config, request: request)
        let dataset: Dataset
        do {
            let options = DatasetOptions(config: config, readImageHeaders: false)
            dataset = try await NIOThreadPool.singleton.runIfActive { try Dataset.open(datasetURL, options: options) }
        } catch let error as DatasetError {
            throw ManageFailure(error.problems.prefix(5).map(\.description).joined(separator: "\n"), exitCode: 2)
        }
        let indices = evalIndices(count: dataset.count, seed: config.train.seed,
                                  maxExamples: request.maxExamples ?? config.eval?.maxExamples ?? 50)
        guard !indices.isEmpty else { throw ManageFailure("\(datasetURL.path) has no examples") }

        let store = try ProgressStore(path: request.databasePath)
        let job = try await store.job(named: config.name)
        let access = APIAccess(baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv, origin: request.configPath)
        let client = try access.makeClient(maxInFlight: config.train.concurrency, retry: APIAccess.retry(for: config))
        let (table, outcomes) = try await withClient(client) { client in
            let models = try await chooseModels(jobName: config.name, baseURL: config.api.baseURL, job: job, store: store,
                                                client: client, request: request)
            let scorer = try scorer(for: config)
            let progress = CompareProgress(total: models.count * indices.count,
                                           label: "\(models.count) models × \(indices.count) \(setName) examples")
            let runner = CompareRunner(client: client, dataset: dataset, indices: indices, config: config, scorer: scorer,
                                       progress: progress)
            do {
                let outcomes = try await runner.run(models: models)
                await scorer.close()
                progress.finish()
                let metrics = outcomes.map { EvalMetrics.perSkill($0.map(\.scored), config: config.reward) }
                return (ComparisonTable(models: models, scores: outcomes.map { $0.map(\.score) }).with(metrics: metrics), outcomes)
            } catch {
                await scorer.close()
                throw error
            }
        }
        let datasetLabel = "\(setName) (\(datasetURL.lastPathComponent))"
        let record = ComparisonRecord(jobID: job?.id, jobName: config.name, finetuneID: job?.finetuneID, dataset: datasetLabel,
                                      examples: indices.count, skills: table.skills, createdAtMs: ProgressStore.nowMs())
        try await store.recordComparison(record, results: table.records)
        return Result(job: config.name, setName: setName, datasetLabel: datasetLabel, examples: indices.count, table: table,
                      outcomes: outcomes, record: record)
    }

    /// The HTML page of a comparison: the table, and the gallery drawing the first model (the
    /// base with `base`) against the last. Secrets in the environment are redacted from it.
    package static func writePage(_ path: String, result: Result) async throws {
        let (table, outcomes, record, job) = (result.table, result.outcomes, result.record, result.job)
        let source = outcomes.count > 1
            ? EvalGallery.Source(before: outcomes[0].map(\.example), after: outcomes[outcomes.count - 1].map(\.example),
                                 beforeLabel: table.rows[0].model.label, afterLabel: table.rows[table.rows.count - 1].model.label)
            : EvalGallery.Source(before: [], after: outcomes.first?.map(\.example) ?? [], beforeLabel: "",
                                 afterLabel: table.rows.first?.model.label ?? "")
        let page = try await NIOThreadPool.singleton.runIfActive {
            ComparisonHTML.page(job: job, comparison: record, results: table.records, gallery: source.build())
        }
        do {
            try Data(SecretRedactor.fromEnvironment().redact(page).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ManageFailure("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The examples' set: `request.set`, else eval when the config has one.
    static func chooseDataset(_ config: JobConfig, request: Request) throws -> (String, URL) {
        switch request.set ?? (config.data.eval == nil ? "train" : "eval") {
        case "train": return ("train", config.data.train)
        default:
            guard let eval = config.data.eval else {
                throw ManageFailure("\(request.configPath) has no eval set (data.eval); use --set train")
            }
            return ("eval", eval)
        }
    }

    /// The base model (with `base`), then the chosen checkpoints by step, of the job `jobName`
    /// (nil `job`: it has not run yet) on the server at `baseURL`.
    package static func chooseModels(jobName: String, baseURL: String, job: JobRecord?, store: ProgressStore, client: MoondreamClient,
                                     request: Request) async throws -> [ComparedModel] {
        var models: [ComparedModel] = request.base ? [.base] : []
        guard let job, let finetuneID = job.finetuneID else {
            guard request.base else {
                throw ManageFailure("job \(jobName) has not run yet (no finetune in \(request.databasePath)); "
                    + "use --base to score the base model alone")
            }
            return models
        }
        let serverSteps: [Int]
        do {
            serverSteps = try await client.allCheckpoints(finetuneID: finetuneID).collect().map(\.step)
        } catch let error as APIError where error.kind == .notFound {
            throw ManageFailure("the finetune \(finetuneID) of job \(job.name) no longer exists on \(baseURL)")
        }
        let record = try await store.checkpoints(jobID: job.id ?? 0)
        let evals = Dictionary(try await store.evals(jobID: job.id ?? 0).map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a })
        var chosen: [Int] = []
        if let requested = request.steps {
            for choice in requested {
                chosen.append(try choice.resolve(job: job.name, serverSteps: serverSteps, record: record, evals: evals))
            }
        } else {
            chosen = serverSteps
        }
        models += Set(chosen).sorted().map { ComparedModel.checkpoint(finetuneID: finetuneID, step: $0) }
        guard !models.isEmpty else {
            throw ManageFailure("job \(job.name) has no saved checkpoint to compare; use --base to score the base model")
        }
        return models
    }

    /// The job's reward functions, applied to inference answers: a reward program as configured,
    /// else the built-in rewards computed locally (inference returns no server rewards).
    static func scorer(for config: JobConfig) throws -> any RewardScorer {
        var config = config
        config.reward.source = .local
        // Issue 24: the graders too (their builtin computed locally).
        if config.reward.command != nil || !config.reward.graders.isEmpty { return try makeRewardScorer(config: config) }
        let rewards = config.reward
        return BuiltinRewardScorer(config: rewards)
    }
}
