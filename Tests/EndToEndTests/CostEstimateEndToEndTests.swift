import Foundation
import Testing

extension EndToEnd {
    /// `validate` prints what a job will cost, and still calls nothing.
    @Suite struct CostEstimateEndToEndTests {
        @Test func validatePrintsTheCostAtTheGivenLatenciesWithoutCallingTheAPI() async throws {
            let workspace = try await Workspace.make(skills: ["point"], images: 4)
            defer { Task { await workspace.close() } }
            try workspace.writeConfig(name: "cost", steps: 10, groups: 4, rollouts: 3, concurrency: 2, every: 5, eval: true)
            let result = try await MoontuneProcess.run(["validate", "config.json", "--latency", "500ms", "--train-latency", "1m"],
                                                       in: workspace.directory)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("10 train steps, 40 rollouts requests for 120 rollouts"), "\(result.stdout)")
            #expect(result.stdout.contains("3 evals, 12 rollouts"), "\(result.stdout)")
            #expect(result.stdout.contains("at 500 ms per rollouts request and 60 s per train step"), "\(result.stdout)")
            #expect(result.stdout.contains("images     about "))
            #expect(await workspace.simulator.stats().requestsTotal == 0, "validate calls nothing")

            let bad = try await MoontuneProcess.run(["validate", "config.json", "--latency", "soon"], in: workspace.directory)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("--latency"), "\(bad.stderr)")
        }
    }
}
