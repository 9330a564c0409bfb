import Foundation
import MoondreamSimulator
import Testing

extension EndToEnd {
    /// What `serve` answers on its port, read by real clients: `/metrics` through the
    /// `prometheus_client` Python package's text parser, the dashboard in headless Chromium.
    @Suite struct ServeHTTPTests {
        /// Runs `executable ARGS` with a deadline and returns its output.
        static func tool(_ executable: String, _ arguments: [String], in directory: URL, timeout: Duration = .seconds(60)) async throws
            -> MoontuneProcess.Result {
            let process = try MoontuneProcess.start(arguments, in: directory, executable: URL(fileURLWithPath: executable))
            return await ServeProcess.wait(process, timeout: timeout)
        }

        static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

        /// Two jobs completed with evals and checkpoints, one waiting on an API that is down.
        static func servedWorkspace() async throws -> (Workspace, ServeProcess) {
            let workspace = try await Workspace.make(seed: 12)
            try workspace.writeConfig(name: "alpha", steps: 4, every: 2, eval: true, file: "alpha.json")
            try workspace.writeConfig(name: "beta", steps: 3, every: 3, eval: true, seed: 2, file: "beta.json")
            try workspace.writeConfig(name: "down", steps: 3, extraAPI: ["base_url": "http://127.0.0.1:1/v1"], file: "down.json")
            for file in ["alpha.json", "beta.json", "down.json"] {
                let submitted = try await workspace.run(["submit", file])
                #expect(submitted.status == 0, "\(submitted.stderr)")
            }
            let serve = try await ServeProcess.start(workspace, ["--max-jobs", "3"])
            try await serve.until(timeout: .seconds(90), "alpha and beta completed, down waiting") { jobs in
                jobs["alpha"]?["state"] as? String == "completed" && jobs["beta"]?["state"] as? String == "completed"
                    && !(jobs["down"]?["waiting"] is NSNull) && jobs["down"]?["waiting"] != nil
            }
            return (workspace, serve)
        }

        @Test func metricsParseAsPrometheusTextWithEveryContractSeries() async throws {
            let (made, serve) = try await Self.servedWorkspace()
            try await withWorkspace(made) { workspace in
                let (code, text) = try await serve.get("/metrics")
                #expect(code == 200)
                #expect(!text.contains(MoontuneProcess.apiKey))
                let file = workspace.directory.appendingPathComponent("metrics.txt")
                try text.write(to: file, atomically: true, encoding: .utf8)
                let script = """
                    import json, sys
                    from prometheus_client.parser import text_string_to_metric_families
                    out = {}
                    for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                        for sample in family.samples:
                            out.setdefault(sample.name, []).append({"labels": sample.labels, "value": sample.value})
                    print(json.dumps(out))
                    """
                let parsed = try await Self.tool("/usr/bin/env", ["python3", "-c", script, file.path], in: workspace.directory)
                #expect(parsed.status == 0, "the Prometheus parser refused /metrics: \(parsed.stderr)\n\(text)")
                let samples = try #require(try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: [[String: Any]]])
                func value(_ name: String, _ labels: [String: String]) -> Double? {
                    samples[name]?.first { ($0["labels"] as? [String: String]).map { l in labels.allSatisfy { l[$0.key] == $0.value } } ?? false }?["value"] as? Double
                }
                #expect(value("moontune_job_step", ["job": "alpha"]) == 4)
                #expect(value("moontune_job_total_steps", ["job": "alpha"]) == 4)
                #expect(value("moontune_job_reward_mean", ["job": "alpha"]) != nil)
                #expect(value("moontune_job_eval_reward_mean", ["job": "beta"]) != nil)
                #expect(value("moontune_job_state", ["job": "alpha", "state": "completed"]) == 1)
                #expect(value("moontune_job_state", ["job": "alpha", "state": "running"]) == 0)
                #expect(value("moontune_job_state", ["job": "down", "state": "running"]) == 1)
                #expect(value("moontune_requests_in_flight", [:]) != nil)
                #expect(value("moontune_key_budget", [:]) != nil)
                let requests = samples["moontune_api_requests_total"] ?? []
                #expect(requests.contains { ($0["labels"] as? [String: String])?["endpoint"] == "POST /tuning/train_step"
                    && ($0["labels"] as? [String: String])?["code"] == "200" }, "\(requests)")
                for name in ["moontune_job_step_seconds", "moontune_job_retries", "moontune_job_reconciliations", "moontune_key_requests_in_flight"] {
                    #expect(samples[name] != nil, "no \(name)")
                }
                #expect(await serve.terminate().status == 0)
            }
        }

        @Test(.enabled(if: chromium != nil, "needs Debian's chromium (installed by .ci/run)"))
        func theDashboardRendersEveryJobInHeadlessChromium() async throws {
            let (made, serve) = try await Self.servedWorkspace()
            try await withWorkspace(made) { workspace in
                let (code, page) = try await serve.get("/")
                #expect(code == 200)
                #expect(!page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("@import"), "the page loads something from the network")
                let profile = workspace.directory.appendingPathComponent("chromium-profile").path
                let result = try await Self.tool(Self.chromium!, [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--user-data-dir=\(profile)", "--virtual-time-budget=8000", "--dump-dom", serve.baseURL + "/",
                ], in: workspace.directory, timeout: .seconds(90))
                let dom = result.stdout
                #expect(dom.contains("data-rendered=\"3\""), "the scripts did not render the jobs: \(result.stderr.suffix(2000))\n\(dom.prefix(3000))")
                for (name, state) in [("alpha", "completed"), ("beta", "completed"), ("down", "running")] {
                    #expect(dom.contains("data-job=\"\(name)\""), "no section for \(name)")
                    #expect(dom.contains("data-state=\"\(state)\""), "\(name) not shown \(state)")
                }
                let jobs = try await serve.jobs()
                for name in ["alpha", "beta"] {
                    for checkpoint in jobs[name]?["checkpoints"] as? [[String: Any]] ?? [] {
                        let model = try #require(checkpoint["model"] as? String)
                        #expect(dom.contains(model), "checkpoint model \(model) not shown")
                    }
                }
                #expect(dom.contains("step 4 of 4") && dom.contains("step 3 of 3"))
                #expect(dom.contains("ETA"))
                #expect(dom.contains("class=\"reward-chart\"") && dom.contains("class=\"eval-chart\""))
                #expect(!dom.contains("class=\"eval-chart\" width=\"300\" height=\"80\" data-points=\"0\"") || dom.contains("data-points=\"2\""),
                        "no eval points drawn")
                #expect(dom.contains("<polyline"), "no chart line drawn")
                #expect(dom.contains("completed at step 4"), "recent events not shown")
                #expect(dom.contains("waiting for the API"), "the wait of the job on a down API is not shown")
                #expect(dom.contains("last error:"), "the last error is not shown")
                #expect(!dom.contains(MoontuneProcess.apiKey))
                #expect(await serve.terminate().status == 0)
            }
        }
    }
}
