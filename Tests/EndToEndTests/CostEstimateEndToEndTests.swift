import Foundation
import Testing

extension EndToEnd {
    /// `validate` prints what a job will cost, and still calls nothing.
    @Suite struct CostEstimateEndToEndTests {
        @Test func validatePrintsTheCostAtTheGivenLatenciesWithoutCallingTheAPI() async throws {
            try await withWorkspace(try await Workspace.make(skills: ["point"], images: 4)) { workspace in
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
}

extension EndToEnd {
    /// `probe` against the simulator: the base model's signal, and nothing recorded in the job.
    @Suite struct ProbeEndToEndTests {
        @Test func probeReportsSignalAndRecommendsWithoutTouchingTheJob() async throws {
            try await withWorkspace(try await Workspace.make(images: 6)) { workspace in
                try workspace.writeConfig(name: "probed", steps: 4, groups: 4, rollouts: 4, concurrency: 4, every: 2)
                let result = try await MoontuneProcess.run(["probe", "config.json", "--examples", "9", "--json",
                                                            "--temperatures", "0.5,1.0"], in: workspace.directory)
                #expect(result.status == 0, "\(result.stderr)")
                let document = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
                #expect(document["examples"] as? Int == 9)
                #expect(document["rollouts_probed"] as? Int == 8)
                let temperatures = try #require(document["temperatures"] as? [[String: Any]])
                #expect(temperatures.compactMap { $0["temperature"] as? Double } == [0.5, 1.0])
                let skills = try #require(temperatures.first?["per_skill"] as? [String: Any])
                #expect(Set(skills.keys) == ["point", "detect", "query"], "a stratified sample holds every skill")
                #expect(temperatures.allSatisfy { ($0["truncation_rate"] as? Double).map { (0...1).contains($0) } == true })
                let recommendation = try #require(document["recommendation"] as? [String: Any])
                #expect([2, 4, 8].contains(recommendation["rollouts_per_group"] as? Int ?? 0))
                #expect(await workspace.simulator.stats().responsesByStatus.keys.allSatisfy { $0.hasPrefix("2") })
                // Nothing recorded: no job in the database, and the scratch finetune is gone.
                #expect(!FileManager.default.fileExists(atPath: workspace.database.path), "probe opens no database")
                let scratch = await workspace.finetune("probed-probe")
                #expect(scratch == nil || scratch?.deleted == true, "the scratch finetune is deleted")
                let job = await workspace.finetune("probed")
                #expect(job == nil, "the job's own finetune is not created")

                let text = try await MoontuneProcess.run(["probe", "config.json", "--examples", "3"], in: workspace.directory)
                #expect(text.status == 0)
                #expect(text.stdout.contains("recommended: train.rollouts_per_group"), "\(text.stdout)")
            }
        }
    }
}
