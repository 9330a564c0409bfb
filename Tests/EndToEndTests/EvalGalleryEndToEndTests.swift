import Foundation
import MoondreamSimulator
import MoontuneImaging
import MoontuneStore
import Testing

extension EndToEnd {
    /// Evals you can look at (issue 14), run as a user would: a real job with eval against the
    /// simulator, then `export --examples`, `status --json`, `report` and `compare --html`, and
    /// the report looked at in headless Chromium.
    @Suite struct EvalGalleryEndToEndTests {
        static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

        /// A completed 6-step job with an eval every 3 steps: evals at steps 0, 3 and 6.
        static func evaluatedJob(_ workspace: Workspace) async throws -> [EvalRecord] {
            try workspace.writeConfig(name: "looked", steps: 6, groups: 3, rollouts: 3, concurrency: 3, every: 3, eval: true)
            let result = try await workspace.run(["run", "config.json"])
            #expect(result.status == 0, "\(result.stderr)")
            let store = try ProgressStore(path: workspace.database.path, readOnly: true)
            let job = try #require(try await store.job(named: "looked"))
            return try await store.evals(jobID: try #require(job.id))
        }

        /// The base64 payloads of the page's JPEG data URLs.
        static func jpegs(in html: String) -> [String] {
            html.components(separatedBy: "src=\"data:image/jpeg;base64,").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        }

        @Test func exportExamplesHasOneRowPerEvalExamplePerEvalAndTheReportShowsThemDrawn() async throws {
            try await withWorkspace { workspace in
                let evals = try await Self.evaluatedJob(workspace)
                #expect(evals.map(\.step) == [0, 3, 6])
                let perEval = try #require(evals.first?.count)
                #expect(perEval == 6, "eval.max_examples")
                #expect(evals.allSatisfy { $0.count == perEval })

                // JSON Lines: one row per eval example per eval, each (step, example) once.
                let jsonl = try await workspace.run(["export", "looked", "--examples", "--format", "jsonl"])
                #expect(jsonl.status == 0, "\(jsonl.stderr)")
                let rows = try jsonl.stdout.split(separator: "\n").map { line in
                    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                }
                #expect(rows.count == evals.count * perEval, "\(rows.count) rows for \(evals.count) evals of \(perEval) examples")
                let keys = Set(rows.map { "\($0["step"] as? Int ?? -1)/\($0["example_id"] as? String ?? "")" })
                #expect(keys.count == rows.count, "no row twice")
                #expect(Set(rows.compactMap { $0["step"] as? Int }) == [0, 3, 6])
                for row in rows {
                    #expect(["point", "detect", "query"].contains(row["skill"] as? String ?? ""))
                    #expect((row["reward"] as? Double).map { (0...1).contains($0) } == true)
                    #expect(row["prediction"] is [String: Any] || row["prediction"] is NSNull)
                }
                #expect(rows.contains { row in
                    guard let prediction = row["prediction"] as? [String: Any] else { return false }
                    return prediction["points"] != nil || prediction["boxes"] != nil || prediction["answer"] != nil
                }, "the predictions are recorded")
                // The mean of each eval's example rows is the eval's recorded mean.
                for eval in evals {
                    let rewards = rows.filter { $0["step"] as? Int == eval.step }.compactMap { $0["reward"] as? Double }
                    #expect(abs(rewards.reduce(0, +) / Double(rewards.count) - eval.rewardMean) < 1e-9)
                }

                // CSV: a header and the same number of rows, to a file.
                let csv = try await workspace.run(["export", "looked", "--examples", "--out", "examples.csv"])
                #expect(csv.status == 0, "\(csv.stderr)")
                #expect(csv.stdout.contains("wrote \(evals.count * perEval) eval example rows"))
                let lines = try String(contentsOf: workspace.directory.appendingPathComponent("examples.csv"), encoding: .utf8)
                    .split(separator: "\n")
                #expect(lines.first == "step,example_id,position,line,skill,reward,prediction,truth,image")
                #expect(lines.count == 1 + evals.count * perEval)

                // status --json: the last eval's metrics per skill.
                let status = try await workspace.statusJSON("looked")
                let perSkill = try #require((status["last_eval"] as? [String: Any])?["per_skill"] as? [String: [String: Any]])
                #expect(!perSkill.isEmpty)
                if let detect = perSkill["detect"] { #expect(detect["f1"] is Double && detect["precision"] is Double && detect["recall"] is Double) }
                if let point = perSkill["point"] { #expect(point["hit_rate"] is Double) }
                if let query = perSkill["query"] { #expect(query["accuracy"] is Double) }

                // The report: a gallery of the first against the latest eval, as decodable JPEGs.
                let report = try await workspace.run(["report", "looked", "--out", "report.html"])
                #expect(report.status == 0, "\(report.stderr)")
                let html = try String(contentsOf: workspace.directory.appendingPathComponent("report.html"), encoding: .utf8)
                #expect(html.contains("<section id=\"gallery\">"))
                #expect(html.contains("step 0 against step 6"))
                #expect(html.contains("Learning rate"), "the lr chart")
                #expect(html.contains("Eval metrics at step 6"))
                let thumbnails = Self.jpegs(in: html)
                let withImages = rows.filter { $0["step"] as? Int == 6 && $0["image"] is String }.count
                #expect(thumbnails.count == 2 * withImages, "two thumbnails per example with an image")
                for payload in thumbnails {
                    let image = try RGBImage.decode(Array(try #require(Data(base64Encoded: payload))))
                    #expect(max(image.width, image.height) <= 256)
                }
                #expect(!html.contains(MoontuneProcess.apiKey))
            }
        }

        @Test(.enabled(if: chromium != nil, "needs Debian's chromium (installed by .ci/run)"))
        func theReportsGalleryLoadsItsPicturesInHeadlessChromium() async throws {
            try await withWorkspace { workspace in
                _ = try await Self.evaluatedJob(workspace)
                let export = try await workspace.run(["export", "looked", "--examples", "--format", "jsonl"])
                let images = Set(export.stdout.split(separator: "\n").compactMap { line in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["image"] as? String
                }).sorted()
                #expect(images.count >= 2)
                // The eval images now: solid blue (a colour the page has nowhere else), one of them gone.
                for image in images.dropFirst() {
                    try Data(try RGBImage(width: 640, height: 480, fill: RGB(0, 0, 255)).pngData()).write(to: URL(fileURLWithPath: image))
                }
                try FileManager.default.removeItem(atPath: images[0])
                let report = try await workspace.run(["report", "looked", "--out", "report.html"])
                #expect(report.status == 0, "a missing image never fails the report: \(report.stderr)")
                let page = workspace.directory.appendingPathComponent("report.html")
                let html = try String(contentsOf: page, encoding: .utf8)
                #expect(html.contains("image missing: \(images[0])"))
                let size = try #require(try FileManager.default.attributesOfItem(atPath: page.path)[.size] as? Int)
                #expect(size < 2_000_000, "one self-contained file of a sensible size: \(size) bytes")

                let screenshot = workspace.directory.appendingPathComponent("report.png")
                let profile = workspace.directory.appendingPathComponent("chromium-profile").path
                let shot = try await ServeHTTPTests.tool(Self.chromium!, [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                    "--user-data-dir=\(profile)", "--window-size=1280,5000", "--screenshot=\(screenshot.path)", page.absoluteString,
                ], in: workspace.directory, timeout: .seconds(90))
                let picture = try RGBImage.decode(Array(try Data(contentsOf: screenshot)))
                #expect(picture.width == 1280, "\(shot.stderr.suffix(1000))")
                // Every loaded thumbnail is mostly blue; a broken image would show none of it.
                var blue = 0
                let pixels = picture.pixels
                for index in stride(from: 0, to: pixels.count, by: 3) where pixels[index + 2] > 200 && pixels[index] < 50 && pixels[index + 1] < 50 {
                    blue += 1
                }
                let thumbnails = Self.jpegs(in: html).count
                #expect(thumbnails >= 4)
                // Each thumbnail is shown at least 120 × 90 CSS pixels; most of it is blue.
                #expect(blue > thumbnails * 120 * 90 / 2, "only \(blue) blue pixels for \(thumbnails) thumbnails: the images did not load")
                try? FileManager.default.copyItem(at: screenshot, to: URL(fileURLWithPath: NSTemporaryDirectory() + "moontune-gallery-report.png"))
            }
        }

        @Test func compareHTMLShowsTheBaseModelAgainstTheFinetunedOneExampleByExample() async throws {
            try await withWorkspace { workspace in
                _ = try await Self.evaluatedJob(workspace)
                let compared = try await workspace.run(["compare", "config.json", "--base", "--steps", "latest", "--html", "compare.html"])
                #expect(compared.status == 0, "\(compared.stderr)")
                let html = try String(contentsOf: workspace.directory.appendingPathComponent("compare.html"), encoding: .utf8)
                #expect(html.contains("<table class=\"comparison\">"))
                #expect(html.contains("<section id=\"gallery\">"))
                #expect(html.contains("base against step 6"))
                let thumbnails = Self.jpegs(in: html)
                #expect(thumbnails.count >= 2)
                for payload in thumbnails { _ = try RGBImage.decode(Array(try #require(Data(base64Encoded: payload)))) }
                #expect(!html.contains(MoontuneProcess.apiKey))
            }
        }
    }
}
