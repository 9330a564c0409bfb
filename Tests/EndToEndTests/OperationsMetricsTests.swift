import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import MoondreamSimulator
import Testing

extension EndToEnd {
    /// `export`, `report` and `checkpoints` on a completed job, read from the database alone.
    @Suite struct OperationsMetricsTests {
        /// A completed job of 12 steps with an eval every 4 steps and only the latest cadence
        /// checkpoint kept (besides the final one), so the one at step 4 is deleted.
        func completedJob() async throws -> Workspace {
            let workspace = try await Workspace.make()
            try workspace.writeConfig(name: "metrics", steps: 12, groups: 3, rollouts: 3, concurrency: 3, every: 4, eval: true,
                                      extra: ["checkpoint": ["every_steps": 4, "keep_last": 1]])
            let result = try await workspace.run(["run", "config.json", "--quiet"])
            #expect(result.status == 0, "\(result.stderr)")
            return workspace
        }

        @Test func exportWritesOneRowPerStepAndPerEvalAsCSVAndJSONLines() async throws {
            try await withWorkspace(try await completedJob()) { workspace in
                let evals = try await workspace.evalSteps("metrics")
                #expect(!evals.isEmpty, "the job recorded no eval; the test proves less")

                let csv = try await workspace.run(["export", "metrics", "--format", "csv", "--out", "metrics.csv"])
                #expect(csv.status == 0, "\(csv.stderr)")
                let text = try String(contentsOf: workspace.directory.appendingPathComponent("metrics.csv"), encoding: .utf8)
                let rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                let header = try #require(rows.first)
                #expect(header.prefix(4) == ["kind", "step", "at_ms", "reward_mean"])
                #expect(rows.dropFirst().allSatisfy { $0.count == header.count }, "every row has every column")
                let kind = try #require(header.firstIndex(of: "kind")), step = try #require(header.firstIndex(of: "step"))
                let stepRows = rows.dropFirst().filter { $0[kind] == "step" }
                let evalRows = rows.dropFirst().filter { $0[kind] == "eval" }
                #expect(stepRows.map { Int($0[step]) } == Array(1...12))
                #expect(evalRows.map { Int($0[step]) ?? -1 } == evals)
                #expect(rows.count == 1 + 12 + evals.count)
                // Each eval right after the step it was taken at (the one before training first).
                let body = Array(rows.dropFirst())
                for (index, row) in body.enumerated() where row[kind] == "eval" {
                    let at = Int(row[step]) ?? -1
                    if at == 0 {
                        #expect(index == 0, "the eval before training comes first")
                    } else {
                        #expect(index > 0 && body[index - 1][kind] == "step" && Int(body[index - 1][step]) == at,
                                "the eval at step \(at) follows its step")
                    }
                }
                let mean = try #require(header.firstIndex(of: "reward_mean"))
                #expect(stepRows.allSatisfy { Double($0[mean]) != nil })
                #expect(csv.stdout.contains("12 step rows and \(evals.count) eval rows"), "\(csv.stdout)")

                let jsonl = try await workspace.run(["export", "metrics", "--format", "jsonl"])
                #expect(jsonl.status == 0, "\(jsonl.stderr)")
                let objects = jsonl.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                #expect(objects.count == jsonl.stdout.split(separator: "\n").count, "every line is a JSON object")
                #expect(objects.filter { $0["kind"] as? String == "step" }.count == 12)
                #expect(objects.filter { $0["kind"] as? String == "eval" }.count == evals.count)
                #expect(objects.allSatisfy { Set($0.keys) == Set(header) }, "the same columns as the CSV")
            }
        }

        @Test func theReportIsWellFormedSelfContainedHTMLWithItsCharts() async throws {
            try await withWorkspace(try await completedJob()) { workspace in
                let result = try await workspace.run(["report", "metrics", "--out", "report.html"])
                #expect(result.status == 0, "\(result.stderr)")
                let url = workspace.directory.appendingPathComponent("report.html")
                #expect(result.stdout.contains(url.path))
                let html = try String(contentsOf: url, encoding: .utf8)

                let checker = WellFormedness()
                let parser = XMLParser(data: Data(html.utf8))
                parser.delegate = checker
                #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
                #expect(checker.elements.first == "html")
                #expect(checker.count("svg") == 5, "five charts (the lr chart with them, issue 14)")
                #expect(checker.count("polyline") >= 3, "lines for the reward, eval and step time")
                #expect(checker.count("polygon") == 1, "the ± std band")
                #expect(checker.count("script") == 0)
                #expect(checker.externalReferences.isEmpty, "needs no network: \(checker.externalReferences)")
                for title in ["Reward per step", "Learning rate", "Eval reward", "constant groups", "Step time"] {
                    #expect(html.contains(title), "no \(title) chart")
                }
                let finetune = try #require(try await Operations.status(workspace, job: "metrics")["finetune_id"] as? String)
                #expect(html.contains("moondream3-preview/\(finetune)@12"), "the header lists checkpoints with model strings")
                #expect(html.contains("&quot;groups_per_step&quot;") || html.contains("\"groups_per_step\""), "the config is shown")
                #expect(!html.contains(MoontuneProcess.apiKey))
            }
        }

        @Test func checkpointsListsDeletedOnesTooWithModelStrings() async throws {
            try await withWorkspace(try await completedJob()) { workspace in
                let finetune = try #require(try await Operations.status(workspace, job: "metrics")["finetune_id"] as? String)
                let server = try #require(await workspace.finetune("metrics"))
                #expect(server.checkpoints == [8, 12])
                #expect(server.deletedCheckpoints == [4])

                let listed = try await workspace.run(["checkpoints", "metrics"])
                #expect(listed.status == 0, "\(listed.stderr)")
                #expect(listed.stdout.contains("deleted"), "\(listed.stdout)")
                for step in [4, 8, 12] {
                    #expect(listed.stdout.contains("moondream3-preview/\(finetune)@\(step)"), "step \(step) missing: \(listed.stdout)")
                }
                let json = try await workspace.run(["checkpoints", "metrics", "--json"])
                let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
                let entries = try #require(document["checkpoints"] as? [[String: Any]])
                let states = Dictionary(uniqueKeysWithValues: entries.compactMap { entry in
                    (entry["step"] as? Int).map { ($0, entry["state"] as? String ?? "?") }
                })
                #expect(states == [4: "deleted", 8: "saved", 12: "saved"], "the record agrees with the server: \(states)")
            }
        }
    }
}

extension Workspace {
    /// The steps at which the job recorded an eval.
    func evalSteps(_ name: String) async throws -> [Int] {
        let result = try await run(["export", name, "--format", "jsonl"])
        return result.stdout.split(separator: "\n").compactMap { line -> Int? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["kind"] as? String == "eval" else { return nil }
            return object["step"] as? Int
        }
    }
}

/// Counts elements and collects references to anything outside the file.
final class WellFormedness: NSObject, XMLParserDelegate, @unchecked Sendable {
    var elements: [String] = []
    var externalReferences: [String] = []

    func count(_ name: String) -> Int { elements.filter { $0 == name }.count }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(elementName)
        // A `data:` URL (the gallery's thumbnails) is embedded in the page, not loaded.
        for (name, value) in attributes where ["src", "href", "xlink:href"].contains(name) && !value.hasPrefix("#") && !value.hasPrefix("data:") {
            externalReferences.append("\(elementName) \(name)=\(value)")
        }
        if elementName == "link" { externalReferences.append("link element") }
    }
}
