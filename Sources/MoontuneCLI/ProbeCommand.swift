import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneManage
import MoontuneJob
import MoontuneReport
import NIOPosix

/// `moontune probe CONFIG`: before spending a night on a job, asks the base model for rollouts on
/// a stratified sample of its examples, at the job's temperature (and others on request), scores
/// them with the job's rewards, and says how many groups would carry a learning signal, how often
/// answers are cut by `max_tokens`, and which group size and temperature give most groups signal.
///
/// It records nothing in the job: the rollouts come from a scratch finetune named
/// `<job>-probe`, created at step 0 (the base model) and deleted again at the end.
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Measure how much learning signal the base model gives a job's examples, before training.",
        discussion: """
            Takes up to --examples examples spread over the skills, asks for --rollouts rollouts of \
            each (the largest group size compared), scores them with the job's rewards, and reports \
            per skill the reward histogram, the fraction of groups with any signal (rewards not all \
            equal), the truncation rate (finish_reason "length") and the mean answer length; then \
            recommends train.rollouts_per_group and train.settings.temperature. Uses a scratch \
            finetune <name>-probe that it deletes at the end; the job's record is not touched.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @Option(help: "How many examples to probe, spread over the skills.")
    var examples = 24

    @Option(help: "Rollouts per example (1–16; default: the larger of 8 and the job's group size).")
    var rollouts: Int?

    @Option(help: "Temperatures to compare, comma-separated (default: the job's).")
    var temperatures: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(examples) else { throw ValidationError("--examples must be from 1 to 10000") }
        if let rollouts, !(1...16).contains(rollouts) { throw ValidationError("--rollouts must be from 1 to 16 (the API's num_rollouts)") }
        if let temperatures, Self.parseTemperatures(temperatures) == nil {
            throw ValidationError("--temperatures: expected numbers ≥ 0 separated by commas, such as 0.7,1.0,1.3")
        }
    }

    static func parseTemperatures(_ text: String) -> [Double]? {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 0 && $0!.isFinite }) else { return nil }
        return values.compactMap { $0 }
    }

    func run() async throws {
        try await CommandEdge.run {
            let url = URL(fileURLWithPath: config)
            let report = try await NIOThreadPool.singleton.runIfActive { validateJob(configURL: url) }
            guard report.isValid, let config = report.config, let dataset = report.train else {
                throw CommandFailure(report.problems.map(\.description).joined(separator: "\n"), exitCode: 2)
            }
            let size = rollouts ?? min(16, max(8, config.train.rolloutsPerGroup))
            let jobTemperature = config.train.settings(for: .query).temperature ?? 1
            let probed = temperatures.flatMap(Self.parseTemperatures) ?? [jobTemperature]
            let sample = try await NIOThreadPool.singleton.runIfActive { [examples] in try Self.stratifiedSample(dataset, count: examples) }
            guard !sample.isEmpty else { throw CommandFailure("\(config.data.train.path) has no examples to probe") }

            let access = APIAccess(baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv, origin: self.config)
            let client = try access.makeClient(maxInFlight: config.train.concurrency, retry: APIAccess.retry(for: config))
            let analysis = try await withClient(client) { client in
                let scratch = "\(config.name)-probe"
                let finetuneID = try await client.createFinetune(name: scratch, rank: config.rank)
                let scorer = try makeRewardScorer(config: config)
                let builder = RequestBuilder(config: config, cache: ImageCache(maxImageBytes: config.data.maxImageBytes))
                do {
                    var results: [(temperature: Double, groups: [ProbeAnalysis.Group])] = []
                    for temperature in probed {
                        let groups = try await Self.groups(sample, temperature: temperature, rollouts: size, finetuneID: finetuneID,
                                                           client: client, builder: builder, scorer: scorer)
                        results.append((temperature, groups))
                    }
                    await scorer.close()
                    try? await client.deleteFinetune(id: finetuneID)
                    return ProbeAnalysis(groupsByTemperature: results, jobGroupSize: config.train.rolloutsPerGroup,
                                         jobTemperature: jobTemperature)
                } catch {
                    await scorer.close()
                    try? await client.deleteFinetune(id: finetuneID)
                    throw error
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(analysis), as: UTF8.self))
            } else {
                print(analysis.text())
            }
        }
    }

    /// Up to `count` examples, the same number from each skill the dataset has (as far as it has
    /// them), spread evenly over the file.
    static func stratifiedSample(_ dataset: Dataset, count: Int) throws -> [Example] {
        let reads = min(dataset.count, max(count * 8, count))
        let stride = max(1, dataset.count / max(1, reads))
        var bySkill: [Skill: [Example]] = [:]
        for position in Swift.stride(from: 0, to: dataset.count, by: stride).prefix(reads) {
            let example = try dataset.example(at: position)
            bySkill[example.skill, default: []].append(example)
        }
        let skills = Skill.allCases.filter { bySkill[$0] != nil }
        guard !skills.isEmpty else { return [] }
        var sample: [Example] = []
        var round = 0
        while sample.count < count {
            var added = false
            for skill in skills where round < bySkill[skill]?.count ?? 0 && sample.count < count {
                sample.append(bySkill[skill]![round])
                added = true
            }
            if !added { break }
            round += 1
        }
        return sample
    }

    /// One group per example at `temperature`, scored with the job's rewards.
    static func groups(_ sample: [Example], temperature: Double, rollouts: Int, finetuneID: String, client: MoondreamClient,
                       builder: RequestBuilder, scorer: any RewardScorer) async throws -> [ProbeAnalysis.Group] {
        try await withThrowingTaskGroup(of: (Int, ProbeAnalysis.Group).self) { group in
            for (position, example) in sample.enumerated() {
                group.addTask {
                    let request = try await NIOThreadPool.singleton.runIfActive {
                        try EncodedRolloutsRequest(builder.rolloutsRequest(for: example, finetuneID: finetuneID, numRollouts: rollouts,
                                                                           temperature: temperature))
                    }
                    let response = try await client.rollouts(request)
                    let graded = try await scorer.graded(for: example, rollouts: response.rollouts, serverRewards: response.rewards)
                    let rewards = graded.rewards
                    let reasons = response.rollouts.map(\.finishReason)
                    let lengths = response.rollouts.map(\.answerLength)
                    var probed = ProbeAnalysis.Group(skill: example.skill, rewards: rewards, finishReasons: reasons, answerLengths: lengths)
                    probed.graderScores = graded.scores  // issue 24
                    return (position, probed)
                }
            }
            var groups: [(Int, ProbeAnalysis.Group)] = []
            for try await result in group { groups.append(result) }
            return groups.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
