import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneReport
import NIOPosix

/// `moontune validate CONFIG`: checks the config, every dataset line and every image header
/// without calling the API or needing a key; with `--check-api`, also one cheap authenticated
/// call.
public struct ValidateCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a job's config, every dataset line and every image, without calling the API.",
        discussion: """
            Prints a summary of the data (examples per skill, image formats and sizes, steps per \
            epoch, the examples of step 1), or every problem found, one per line as \
            file:line: field: problem, and exits with status 2. A valid job also gets a cost \
            estimate: rollouts and requests (training and eval), image bytes sent, and a wall-time \
            range at the latencies given by --latency and --train-latency. With --check-api, a valid job is \
            also checked against its API with one cheap authenticated call (GET \
            /tuning/finetunes?limit=1): whether api.base_url answers and the key is accepted. The \
            key is never printed. Exits 1 when the API check fails.
            """)

    @Argument(help: "The job config (JSON).")
    var config: String

    @Flag(name: .customLong("check-api"),
          help: "Also make one cheap authenticated call to check that api.base_url answers and the key is accepted.")
    var checkAPI = false

    @Option(help: "For the cost estimate: the latency of one rollouts request (2s, 500ms, 1.5m).")
    var latency = "2s"

    @Option(name: .customLong("train-latency"), help: "For the cost estimate: the latency of one train step.")
    var trainLatency = "30s"

    public func validate() throws {
        for (name, text) in [("--latency", latency), ("--train-latency", trainLatency)] where CostEstimate.parseDuration(text) == nil {
            throw ValidationError("\(name): expected a duration such as 2s, 500ms or 1.5m, got \"\(text)\"")
        }
    }

    public init() {}

    public func run() async throws {
        let configURL = URL(fileURLWithPath: config)
        // A first scan of a large dataset takes seconds: off the cooperative pool.
        let report = try await NIOThreadPool.singleton.runIfActive { validateJob(configURL: configURL) }
        for warning in report.warnings { Self.writeToStandardError("warning: \(warning)") }
        guard report.isValid else {
            for problem in report.problems { print(problem) }
            Self.writeToStandardError("\(report.problems.count) problem\(report.problems.count == 1 ? "" : "s") found; nothing was sent anywhere")
            throw ExitCode(2)
        }
        print(report.summary)
        if let config = report.config, let train = report.train {
            let latency = CostEstimate.parseDuration(latency) ?? 2, trainLatency = CostEstimate.parseDuration(trainLatency) ?? 30
            let trainImages = Self.averageImageBytes(train)
            let evalImages = report.eval.map { Self.averageImageBytes($0) } ?? (bytes: 0, sampled: 0)
            let estimate = CostEstimate(config: config, evalExamples: report.eval?.count, trainImageBytes: trainImages.bytes,
                                        evalImageBytes: evalImages.bytes, latency: latency, trainLatency: trainLatency)
            print(estimate.render(latency: latency, trainLatency: trainLatency, sampledImages: trainImages.sampled + evalImages.sampled))
        }
        print("ok: the job is valid")
        if checkAPI, let config = report.config {
            let check = await APICheck.run(config.api, environment: ProcessInfo.processInfo.environment)
            print(check.message)
            if !check.ok { throw ExitCode(1) }
        }
    }

    /// One line on stderr, for warnings and counts that must not mix with the lines on stdout.
    static func writeToStandardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension ValidateCommand {
    /// The average image file size of up to `limit` examples spread over the dataset (a stat each;
    /// no image is read), and how many were looked at.
    static func averageImageBytes(_ dataset: Dataset, limit: Int = 200) -> (bytes: Double, sampled: Int) {
        guard dataset.count > 0 else { return (0, 0) }
        let stride = max(1, dataset.count / limit)
        var total = 0.0, seen = 0
        for position in Swift.stride(from: 0, to: dataset.count, by: stride).prefix(limit) {
            guard let example = try? dataset.example(at: position), let image = example.image,
                  let size = (try? FileManager.default.attributesOfItem(atPath: image.path))?[.size] as? NSNumber else { continue }
            total += size.doubleValue
            seen += 1
        }
        return (seen == 0 ? 0 : total / Double(seen), seen)
    }
}
