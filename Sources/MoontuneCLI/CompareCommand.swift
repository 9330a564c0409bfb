import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import MoontuneReport
import NIOPosix

/// `moontune compare CONFIG [--steps S1,S2,...] [--base]`: did training help?
struct CompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Score the base model and saved checkpoints on the eval set with the job's rewards.",
        discussion: """
            Every chosen model answers the same examples through the inference endpoints (under the job's \
            concurrency bound, with retries), and the answers are scored with the job's reward functions. Prints a \
            table: rows are models, columns the mean reward per skill, the overall mean and n; the best value of each \
            column is marked. The result is recorded in the database.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @Option(help: "Checkpoint steps to compare, comma-separated; `latest` and `best` are accepted (default: every saved one).")
    var steps: String?

    @Flag(help: "Also score the base model.")
    var base = false

    @Option(help: "Which examples: eval (default when the config has an eval set) or train.")
    var set: String?

    @Option(name: .customLong("max-examples"), help: "How many examples (default: eval.max_examples, else 50).")
    var maxExamples: Int?

    @Option(help: "Also write an HTML page: the table, and each example drawn for the first model against the last.")
    var html: String?

    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print CSV.") var csv = false

    @OptionGroup var database: DatabaseOption

    func validate() throws {
        if json && csv { throw ValidationError("give --json or --csv, not both") }
        if let set, set != "eval" && set != "train" { throw ValidationError("--set must be eval or train") }
        if let maxExamples, maxExamples < 1 { throw ValidationError("--max-examples must be at least 1") }
        _ = try requestedSteps()
    }

    /// `--steps` parsed: numbers, `latest`, `best`.
    func requestedSteps() throws -> [CheckpointChoice]? {
        guard let steps else { return nil }
        return try steps.split(separator: ",").map { token in
            let word = token.trimmingCharacters(in: .whitespaces)
            switch word {
            case "latest": return .latest
            case "best": return .best
            default:
                guard let step = Int(word), step >= 1 else {
                    throw ValidationError("--steps takes step numbers, `latest` or `best`, comma-separated; got \(word)")
                }
                return .step(step)
            }
        }
    }

    func run() async throws {
        try await CommandEdge.run {
            let config = try APIAccess.loadConfig(self.config)
            let (setName, datasetURL) = try chooseDataset(config)
            let dataset: Dataset
            do {
                let options = DatasetOptions(config: config, readImageHeaders: false)
                dataset = try await NIOThreadPool.singleton.runIfActive { try Dataset.open(datasetURL, options: options) }
            } catch let error as DatasetError {
                throw CommandFailure(error.problems.prefix(5).map(\.description).joined(separator: "\n"), exitCode: 2)
            }
            let indices = evalIndices(count: dataset.count, seed: config.train.seed,
                                      maxExamples: maxExamples ?? config.eval?.maxExamples ?? 50)
            guard !indices.isEmpty else { throw CommandFailure("\(datasetURL.path) has no examples") }

            let store = try ProgressStore(path: database.path)
            let job = try await store.job(named: config.name)
            let access = APIAccess(baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv, origin: self.config)
            let client = try access.makeClient(maxInFlight: config.train.concurrency, retry: APIAccess.retry(for: config))
            let (table, outcomes) = try await withClient(client) { client in
                let models = try await chooseModels(config: config, job: job, store: store, client: client)
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
            if let html {
                try await writePage(html, job: config.name, record: record, table: table, outcomes: outcomes)
            }
            if json {
                print(try table.json(job: config.name, dataset: datasetLabel, examples: indices.count))
            } else if csv {
                print(table.csv())
            } else {
                print("job \(config.name): \(indices.count) \(setName) examples")
                print(table.text())
            }
        }
    }

    /// The `--html` page: the gallery draws the first model (the base with `--base`) against the last.
    func writePage(_ path: String, job: String, record: ComparisonRecord, table: ComparisonTable,
                   outcomes: [[CompareRunner.Outcome]]) async throws {
        let source = outcomes.count > 1
            ? EvalGallery.Source(before: outcomes[0].map(\.example), after: outcomes[outcomes.count - 1].map(\.example),
                                 beforeLabel: table.rows[0].model.label, afterLabel: table.rows[table.rows.count - 1].model.label)
            : EvalGallery.Source(before: [], after: outcomes.first?.map(\.example) ?? [], beforeLabel: "",
                                 afterLabel: table.rows.first?.model.label ?? "")
        let page = try await NIOThreadPool.singleton.runIfActive { ComparisonHTML.page(job: job, comparison: record, results: table.records, gallery: source.build()) }
        do {
            try Data(SecretRedactor.fromEnvironment().redact(page).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandFailure("cannot write \(path): \(error.localizedDescription)")
        }
        FileHandle.standardError.write(Data("wrote \(URL(fileURLWithPath: path).standardizedFileURL.path)\n".utf8))
    }

    func chooseDataset(_ config: JobConfig) throws -> (String, URL) {
        switch set ?? (config.data.eval == nil ? "train" : "eval") {
        case "train": return ("train", config.data.train)
        default:
            guard let eval = config.data.eval else {
                throw CommandFailure("\(self.config) has no eval set (data.eval); use --set train")
            }
            return ("eval", eval)
        }
    }

    /// The base model (with `--base`), then the chosen checkpoints by step.
    func chooseModels(config: JobConfig, job: JobRecord?, store: ProgressStore, client: MoondreamClient) async throws -> [ComparedModel] {
        var models: [ComparedModel] = base ? [.base] : []
        guard let job, let finetuneID = job.finetuneID else {
            guard base else {
                throw CommandFailure("job \(config.name) has not run yet (no finetune in \(database.path)); use --base to score the base model alone")
            }
            return models
        }
        let serverSteps: [Int]
        do {
            serverSteps = try await client.allCheckpoints(finetuneID: finetuneID).collect().map(\.step)
        } catch let error as APIError where error.kind == .notFound {
            throw CommandFailure("the finetune \(finetuneID) of job \(job.name) no longer exists on \(config.api.baseURL)")
        }
        let record = try await store.checkpoints(jobID: job.id ?? 0)
        let evals = Dictionary(try await store.evals(jobID: job.id ?? 0).map { ($0.step, $0.rewardMean) }, uniquingKeysWith: { a, _ in a })
        var chosen: [Int] = []
        if let requested = try requestedSteps() {
            for choice in requested {
                chosen.append(try choice.resolve(job: job.name, serverSteps: serverSteps, record: record, evals: evals))
            }
        } else {
            chosen = serverSteps
        }
        models += Set(chosen).sorted().map { ComparedModel.checkpoint(finetuneID: finetuneID, step: $0) }
        guard !models.isEmpty else {
            throw CommandFailure("job \(job.name) has no saved checkpoint to compare; use --base to score the base model")
        }
        return models
    }

    /// The job's reward functions, applied to inference answers: a reward program as configured,
    /// else the built-in rewards computed locally (inference returns no server rewards).
    func scorer(for config: JobConfig) throws -> any RewardScorer {
        var config = config
        config.reward.source = .local
        // Issue 24: the graders too (their builtin computed locally).
        if config.reward.command != nil || !config.reward.graders.isEmpty { return try makeRewardScorer(config: config) }
        let rewards = config.reward
        return BuiltinRewardScorer(config: rewards)
    }
}
