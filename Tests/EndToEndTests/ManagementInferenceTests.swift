import Foundation
import MoondreamSimulator
import MoontuneImaging
import MoontuneStore
import Testing

extension EndToEnd {
    /// `predict` and `compare`: inference with saved checkpoints, run as a user would.
    @Suite struct ManagementInferenceTests {
        static func json(_ text: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
        }

        /// The first train example of a skill, as written in train.jsonl.
        static func example(_ workspace: Workspace, skill: String) throws -> [String: Any] {
            let lines = try String(contentsOf: workspace.directory.appendingPathComponent("train.jsonl"), encoding: .utf8)
                .split(separator: "\n")
            let examples = try lines.map { try json(String($0)) }
            return try #require(examples.first { $0["skill"] as? String == skill })
        }

        static let magenta = RGB(255, 0, 255)

        /// Every pixel that differs from the original is the drawing colour, and there are some.
        static func checkDrawing(original: URL, drawn: URL) throws -> RGBImage {
            let before = try RGBImage.decode(Array(try Data(contentsOf: original)))
            let after = try RGBImage.decode(Array(try Data(contentsOf: drawn)))
            #expect(Array(try Data(contentsOf: drawn).prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            #expect(after.width == before.width && after.height == before.height)
            var changed = 0
            var foreign = 0
            for y in 0..<before.height {
                for x in 0..<before.width where before[x, y] != after[x, y] {
                    changed += 1
                    if after[x, y] != magenta { foreign += 1 }
                }
            }
            #expect(changed > 20, "nothing was drawn")
            #expect(foreign == 0, "\(foreign) changed pixels are not the drawing colour")
            return after
        }

        @Test func predictAnswersEverySkillWithTheChosenCheckpointAndDraws() async throws {
            try await withWorkspace { workspace in
                try workspace.writeConfig(name: "seer", steps: 6, groups: 4, rollouts: 3, concurrency: 3, every: 3, eval: true)
                let trained = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(trained.status == 0, "\(trained.stderr)")
                let finetuneID = try #require(try await workspace.job("seer")?.finetuneID)
                let point = try Self.example(workspace, skill: "point")
                let image = try #require(point["image"] as? String)
                let imageURL = workspace.directory.appendingPathComponent(image)

                // point, latest by default, drawn.
                let pointed = try await workspace.run(["predict", "seer", "--image", image, "--object", try #require(point["object"] as? String),
                                                       "--skill", "point", "--json", "--draw", "points.png"])
                #expect(pointed.status == 0, "\(pointed.stderr)")
                let pointDocument = try Self.json(pointed.stdout)
                #expect(pointDocument["model"] as? String == "moondream3-preview/\(finetuneID)@6")
                let points = try #require(pointDocument["points"] as? [[String: Double]])
                #expect(!points.isEmpty)
                let pointDrawing = try Self.checkDrawing(original: imageURL, drawn: workspace.directory.appendingPathComponent("points.png"))
                for point in points {
                    let x = Int((try #require(point["x"]) * Double(pointDrawing.width)).rounded())
                    let y = Int((try #require(point["y"]) * Double(pointDrawing.height)).rounded())
                    #expect(pointDrawing[min(x, pointDrawing.width - 1), min(y, pointDrawing.height - 1)] == Self.magenta)
                }

                // detect at step 3, drawn: each box's corner and edge midpoints are outlined.
                let detect = try Self.example(workspace, skill: "detect")
                let detectImage = try #require(detect["image"] as? String)
                let detected = try await workspace.run(["predict", "seer", "--step", "3", "--image", detectImage, "--object",
                                                        try #require(detect["object"] as? String), "--skill", "detect", "--json",
                                                        "--draw", "boxes.png"])
                #expect(detected.status == 0, "\(detected.stderr)")
                let detectDocument = try Self.json(detected.stdout)
                #expect(detectDocument["model"] as? String == "moondream3-preview/\(finetuneID)@3")
                let boxes = try #require(detectDocument["objects"] as? [[String: Double]])
                #expect(!boxes.isEmpty)
                let boxDrawing = try Self.checkDrawing(original: workspace.directory.appendingPathComponent(detectImage),
                                                       drawn: workspace.directory.appendingPathComponent("boxes.png"))
                for box in boxes {
                    func pixel(_ value: Double?, _ size: Int) -> Int { min(size - 1, max(0, Int(((value ?? 0) * Double(size)).rounded(.down)))) }
                    let left = pixel(box["x_min"], boxDrawing.width), right = pixel(box["x_max"], boxDrawing.width)
                    let top = pixel(box["y_min"], boxDrawing.height), bottom = pixel(box["y_max"], boxDrawing.height)
                    #expect(boxDrawing[left, top] == Self.magenta)
                    #expect(boxDrawing[right, bottom] == Self.magenta)
                    #expect(boxDrawing[(left + right) / 2, top] == Self.magenta)
                    #expect(boxDrawing[left, (top + bottom) / 2] == Self.magenta)
                }

                // query with the best checkpoint (by recorded eval), and a caption; readable text.
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let jobID = try #require(try await store.job(named: "seer")?.id)
                let evals = try await store.evals(jobID: jobID).filter { [3, 6].contains($0.step) }
                let top = try #require(evals.map(\.rewardMean).max())
                let best = try #require(evals.filter { $0.rewardMean == top }.map(\.step).min())
                let query = try Self.example(workspace, skill: "query")
                let asked = try await workspace.run(["predict", "seer", "--best", "--image", try #require(query["image"] as? String),
                                                     "--question", try #require(query["question"] as? String), "--json"])
                #expect(asked.status == 0, "\(asked.stderr)")
                let answer = try Self.json(asked.stdout)
                #expect(answer["model"] as? String == "moondream3-preview/\(finetuneID)@\(best)")
                #expect(!(answer["answer"] as? String ?? "").isEmpty)
                let captioned = try await workspace.run(["predict", "seer", "--image", image, "--caption"])
                #expect(captioned.status == 0, "\(captioned.stderr)")
                #expect(captioned.stdout.hasPrefix("model moondream3-preview/\(finetuneID)@6\n"))
                #expect(captioned.stdout.split(separator: "\n").count == 2)
                let base = try await workspace.run(["predict", "seer", "--base", "--image", image, "--caption", "--json"])
                #expect(try Self.json(base.stdout)["model"] as? String == "moondream3-preview", "\(base.stderr)")
                let readable = try await workspace.run(["predict", "seer", "--image", image, "--object", "the shape", "--skill", "point"])
                #expect(readable.stdout.contains(" point") && readable.stdout.contains("x 0."), "\(readable.stdout)")

                // Refusals: a step never saved, a missing image, no request.
                let missing = try await workspace.run(["predict", "seer", "--step", "5", "--image", image, "--caption"])
                #expect(missing.status != 0)
                #expect(missing.stderr.contains("no saved checkpoint at step 5") && missing.stderr.contains("3, 6"), "\(missing.stderr)")
                let noImage = try await workspace.run(["predict", "seer", "--image", "nowhere.png", "--caption"])
                #expect(noImage.status != 0)
                #expect(noImage.stderr.contains("nowhere.png"))
                let nothing = try await workspace.run(["predict", "seer", "--image", image])
                #expect(nothing.status != 0)
            }
        }

        @Test func compareShowsTheFinetunedCheckpointAheadOfTheBaseModelOnTheTrainingSet() async throws {
            var faults = FaultOptions()
            faults.otherLatencyMs = 20
            try await withWorkspace(skills: ["point", "detect", "query"], images: 6) { workspace in
                try workspace.writeConfig(name: "learner", steps: 24, groups: 6, rollouts: 4, concurrency: 4, every: 12)
                let trained = try await workspace.run(["run", "config.json", "--quiet"])
                #expect(trained.status == 0, "\(trained.stderr)")

                // Under the bound, through 5xx faults (retried), with a progress line.
                faults.serverErrorRate = 0.1
                await workspace.simulator.setFaults(faults)
                try await workspace.control("reset-stats", [:])
                let compared = try await workspace.run(["compare", "config.json", "--base", "--set", "train", "--json"])
                #expect(compared.status == 0, "\(compared.stderr)")
                let stats = await workspace.simulator.stats()
                #expect(stats.maxInFlight <= 4 && stats.maxInFlight >= 2, "max in flight \(stats.maxInFlight)")
                #expect(stats.faultsInjected.serverError > 0)
                let progress = try #require(compared.stderr.split(separator: "\n").last { $0.hasPrefix("compare: ") })
                #expect(progress.contains("54/54 answers"), "\(progress)")
                #expect(!progress.contains(" 0 retries"), "\(progress)")

                let document = try Self.json(compared.stdout)
                #expect(document["examples"] as? Int == 18)
                #expect(document["skills"] as? [String] == ["query", "point", "detect"])
                let models = try #require(document["models"] as? [[String: Any]])
                #expect(models.compactMap { $0["label"] as? String } == ["base", "step 12", "step 24"])
                let base = try #require(models.first)
                let final = try #require(models.last)
                let baseOverall = try #require(base["overall"] as? Double)
                let finalOverall = try #require(final["overall"] as? Double)
                #expect(finalOverall > baseOverall + 0.1, "base \(baseOverall), step 24 \(finalOverall)")
                #expect((final["best"] as? [String])?.contains("overall") == true)
                #expect((base["best"] as? [String])?.contains("overall") == false)
                #expect(models.allSatisfy { $0["n"] as? Int == 18 })
                // Each model's eval metrics per skill, as an eval records them.
                for model in models {
                    let metrics = try #require(model["metrics"] as? [String: [String: Any]], "\(model)")
                    #expect(Set(metrics.keys) == ["query", "point", "detect"], "\(metrics.keys)")
                    #expect((metrics["query"]?["accuracy"] as? Double).map { (0...1).contains($0) } == true)
                    #expect(metrics["detect"]?["f1"] is Double && metrics["detect"]?["precision"] is Double)
                    #expect((metrics["point"]?["hit_rate"] as? Double).map { (0...1).contains($0) } == true)
                    #expect(metrics["point"]?["count"] as? Int == 6)
                }
                #expect((final["metrics"] as? [String: [String: Any]])?["query"]?["accuracy"] as? Double
                    ?? 0 >= (base["metrics"] as? [String: [String: Any]])?["query"]?["accuracy"] as? Double ?? 1,
                    "training did not help query accuracy: \(base) \(final)")

                // Recorded in the database.
                let store = try ProgressStore(path: workspace.database.path, readOnly: true)
                let recorded = try #require(try await store.latestComparison(jobName: "learner"))
                #expect(recorded.comparison.examples == 18)
                #expect(recorded.results.map(\.label) == ["base", "step 12", "step 24"])
                #expect(abs((recorded.results.last?.rewardMean ?? 0) - finalOverall) < 1e-9)
                #expect(recorded.results.last?.perSkill["point"]?.n == 6)

                // The table marks the best of each column; CSV for scripts.
                await workspace.simulator.setFaults(FaultOptions())
                let table = try await workspace.run(["compare", "config.json", "--base", "--set", "train", "--steps", "24"])
                #expect(table.status == 0, "\(table.stderr)")
                let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("step 24") })
                #expect(row.contains("*"))
                #expect(row.hasSuffix("18"))
                #expect(table.stdout.contains("step 24:") && table.stdout.contains("F1") && table.stdout.contains("accuracy"), "\(table.stdout)")
                let csv = try await workspace.run(["compare", "config.json", "--set", "train", "--steps", "latest", "--csv"])
                #expect(csv.status == 0, "\(csv.stderr)")
                let csvLines = csv.stdout.split(separator: "\n")
                #expect(csvLines.first == "label,model,step,query,point,detect,overall,n,best")
                #expect(csvLines.count == 2)
                #expect(csvLines.last?.hasPrefix("step 24,moondream3-preview/") == true)
                #expect(try await store.comparisons(jobName: "learner").count == 3)

                // The report shows them, the best of each column in bold.
                let report = try await workspace.run(["report", "learner", "--out", "report.html"])
                #expect(report.status == 0, "\(report.stderr)")
                let html = try String(contentsOf: workspace.directory.appendingPathComponent("report.html"), encoding: .utf8)
                let section = try #require(html.range(of: "<section id=\"comparisons\">").map { String(html[$0.lowerBound...]) })
                #expect(section.components(separatedBy: "<table class=\"comparison\">").count == 4)
                let bestRow = try #require(section.split(separator: "\n").first { $0.contains(">step 24</td>") })
                #expect(bestRow.contains(String(format: "<strong>%.3f</strong>", finalOverall)), "\(bestRow)")

                let unknown = try await workspace.run(["compare", "config.json", "--steps", "7"])
                #expect(unknown.status != 0)
                #expect(unknown.stderr.contains("no saved checkpoint at step 7"))
            }
        }
    }
}
