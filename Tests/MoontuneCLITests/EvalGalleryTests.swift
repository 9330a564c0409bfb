import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import MoondreamAPI
import MoontuneImaging
@testable import MoontuneReport
@testable import MoontuneStore
import Testing

/// The report's gallery of eval examples: its order, its thumbnails, its placeholders; and the
/// rows of `export --examples`.
@Suite struct EvalGalleryTests {
    func outcome(_ id: String, _ position: Int, reward: Double, skill: String = "point", image: String? = nil,
                 prediction: ExamplePrediction? = nil, truth: ExampleTruth? = nil) -> GalleryOutcome {
        GalleryOutcome(exampleID: id, position: position, skill: skill, reward: reward, prediction: prediction, truth: truth,
                       imagePath: image)
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("moontune-gallery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A solid image written as PNG.
    func writeImage(_ url: URL, width: Int, height: Int, color: RGB = RGB(0, 0, 200)) throws {
        try Data(try RGBImage(width: width, height: height, fill: color).pngData()).write(to: url)
    }

    // MARK: Order

    @Test func mostImprovedFirstThenMostRegressedThenTheRestInEvalSetOrder() {
        let before = [outcome("a", 0, reward: 0.5), outcome("b", 1, reward: 0.2), outcome("c", 2, reward: 0.9),
                      outcome("d", 3, reward: 0.4), outcome("e", 4, reward: 0.7), outcome("f", 5, reward: 0.3)]
        let after = [outcome("a", 0, reward: 0.5), outcome("b", 1, reward: 0.6), outcome("c", 2, reward: 0.1),
                     outcome("d", 3, reward: 1.0), outcome("e", 4, reward: 0.6), outcome("f", 5, reward: 0.3),
                     outcome("g", 6, reward: 0.8)]  // g: not in the first eval
        let order = EvalGallery.order(before: before, after: after)
        // Improved: d (+0.6), b (+0.4); regressed: c (−0.8), e (−0.1); rest: a, f, g in eval-set order.
        #expect(order.map(\.after.exampleID) == ["d", "b", "c", "e", "a", "f", "g"])
        #expect(order.first?.delta.map { abs($0 - 0.6) < 1e-12 } == true)
        #expect(order.last?.delta == nil)
        #expect(EvalGallery.order(before: before, after: after, cap: 3).map(\.after.exampleID) == ["d", "b", "c"], "capped")
    }

    @Test func equalGainsKeepEvalSetOrder() {
        let before = [outcome("x", 0, reward: 0), outcome("y", 1, reward: 0), outcome("z", 2, reward: 1), outcome("w", 3, reward: 1)]
        let after = [outcome("x", 0, reward: 1), outcome("y", 1, reward: 1), outcome("z", 2, reward: 0), outcome("w", 3, reward: 0)]
        #expect(EvalGallery.order(before: before, after: after).map(\.after.exampleID) == ["x", "y", "z", "w"])
    }

    // MARK: Thumbnails

    @Test func aThumbnailIsASmallJPEGAtMost256PixelsOnItsLongerSide() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = dir.appendingPathComponent("big.png")
        try writeImage(image, width: 1600, height: 1200)
        let truth = ExampleTruth(object: "the thing", groundTruth: .boxes([Box(xMin: 0.1, yMin: 0.1, xMax: 0.5, yMax: 0.5)]))
        let prediction = ExamplePrediction(points: [Point(x: 0.75, y: 0.75)])
        let gallery = EvalGallery.build(before: [], after: [outcome("a", 0, reward: 1, image: image.path, prediction: prediction, truth: truth)],
                                        beforeLabel: "", afterLabel: "step 0")
        let item = try #require(gallery.items.first)
        guard case .jpeg(let url, let width, let height, let bytes) = item.after else {
            Issue.record("no thumbnail: \(item.after)")
            return
        }
        #expect(width == 256 && height == 192, "the aspect ratio is kept")
        #expect(bytes < 30_000, "a thumbnail stays small: \(bytes) bytes")
        #expect(url.hasPrefix("data:image/jpeg;base64,"))
        let decoded = try RGBImage.decode(Array(try #require(Data(base64Encoded: String(url.dropFirst("data:image/jpeg;base64,".count))))))
        #expect(decoded.width == 256 && decoded.height == 192)
        // The truth box's edge is drawn green, the predicted point magenta, the rest stays blue
        // (loosely: JPEG blurs the colour of thin lines).
        let edge = decoded[Int(0.3 * 256), Int(0.1 * 192) + 1], mark = decoded[192, 144], plain = decoded[20, 170]
        #expect(edge.g > 90 && Int(edge.g) > Int(edge.r) + 40, "the truth's edge: \(edge)")
        #expect(mark.r > 150 && mark.g < 90, "the predicted point: \(mark)")
        #expect(plain.b > 150 && plain.r < 60 && plain.g < 60, "the image: \(plain)")
    }

    @Test func downscalingKeepsSmallImagesAndAveragesLargeOnes() {
        let small = RGBImage(width: 100, height: 40, fill: RGB(10, 20, 30))
        #expect(small.downscaled(maxSide: 256) == small, "never scaled up")
        var stripes = RGBImage(width: 1000, height: 10, fill: RGB(0, 0, 0))
        for x in stride(from: 0, to: 1000, by: 2) { for y in 0..<10 { stripes[x, y] = RGB(255, 255, 255) } }
        let scaled = stripes.downscaled(maxSide: 250)
        #expect(scaled.width == 250 && scaled.height == 3)
        // Each output pixel covers 4 columns, two white and two black: mid grey, not aliased stripes.
        #expect((100...155).contains(Int(scaled[10, 1].r)), "\(scaled[10, 1])")
    }

    @Test func aMissingImageGetsAPlaceholderAndTheReportStillRenders() throws {
        let missing = "/nonexistent/moontune-\(UUID().uuidString).png"
        let gallery = EvalGallery.build(before: [outcome("a", 0, reward: 0, image: missing)],
                                        after: [outcome("a", 0, reward: 1, image: missing)], beforeLabel: "step 0", afterLabel: "step 4")
        let item = try #require(gallery.items.first)
        #expect(item.after == .placeholder("image missing: \(missing)"))
        #expect(item.before == .placeholder("image missing: \(missing)"))
        var data = ReportData(report: ReportRenderingTests().report(), configJSON: "{}", series: [], evals: [], generatedAtMs: 0)
        data.gallery = gallery
        let html = ReportHTML.render(data)
        #expect(html.contains("image missing: \(missing)"))
        #expect(XMLParser(data: Data(html.utf8)).parse())
    }

    @Test func aQueryShowsItsQuestionExpectedAndPredictedAnswers() throws {
        let truth = ExampleTruth(question: "What colour is it?", answers: ["red", "crimson"])
        let gallery = EvalGallery.build(before: [outcome("q", 0, reward: 0, skill: "query", prediction: ExamplePrediction(answer: "blue"), truth: truth)],
                                        after: [outcome("q", 0, reward: 1, skill: "query", prediction: ExamplePrediction(answer: "red"), truth: truth)],
                                        beforeLabel: "step 0", afterLabel: "step 4")
        var data = ReportData(report: ReportRenderingTests().report(), configJSON: "{}", series: [], evals: [], generatedAtMs: 0)
        data.gallery = gallery
        let html = ReportHTML.render(data)
        for text in ["Q: What colour is it?", "expected: red | crimson", "predicted: blue", "predicted: red", "no image",
                     "data-change=\"improved\""] {
            #expect(html.contains(text), "\(text)")
        }
    }

    @Test func theReportEmbedsTheGalleryAsDecodableJPEGsWithALegend() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        var before: [GalleryOutcome] = [], after: [GalleryOutcome] = []
        for index in 0..<30 {
            let image = dir.appendingPathComponent("\(index).png")
            try writeImage(image, width: 640, height: 480, color: RGB(UInt8(index * 8), 90, 160))
            let truth = ExampleTruth(object: "box", groundTruth: .boxes([Box(xMin: 0.2, yMin: 0.2, xMax: 0.6, yMax: 0.7)]))
            before.append(outcome("e\(index)", index, reward: 0.5, skill: "detect", image: image.path,
                                  prediction: ExamplePrediction(boxes: [Box(xMin: 0.5, yMin: 0.5, xMax: 0.9, yMax: 0.9)]), truth: truth))
            after.append(outcome("e\(index)", index, reward: 0.5 + Double(index % 3 - 1) * 0.1, skill: "detect", image: image.path,
                                 prediction: ExamplePrediction(boxes: [Box(xMin: 0.21, yMin: 0.2, xMax: 0.6, yMax: 0.7)]), truth: truth))
        }
        var data = ReportData(report: ReportRenderingTests().report(), configJSON: "{}", series: [], evals: [], generatedAtMs: 0)
        let gallery = EvalGallery.build(before: before, after: after, beforeLabel: "step 0", afterLabel: "step 6")
        data.gallery = gallery
        data.lrSeries = [(1, 0.001), (2, 0.002), (3, 0.0015)]
        let html = ReportHTML.render(data)
        #expect(XMLParser(data: Data(html.utf8)).parse())
        #expect(html.contains("ground truth") && html.contains("prediction") && html.contains(EvalGallery.truthCSS))
        #expect(html.contains("24 of 30 examples"), "capped at 24")
        let urls = html.components(separatedBy: "src=\"data:image/jpeg;base64,").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(urls.count == 48, "two thumbnails (first and latest eval) per shown example")
        for url in urls {
            let bytes = try #require(Data(base64Encoded: url))
            let image = try RGBImage.decode(Array(bytes))
            #expect(image.width == 256 && image.height == 192)
        }
        let changes = html.components(separatedBy: "data-change=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(changes.prefix(10).allSatisfy { $0 == "improved" } && changes.dropFirst(10).prefix(10).allSatisfy { $0 == "regressed" })
        #expect(html.count < 1_500_000, "the page stays a sensible size: \(html.count) bytes")
        #expect(html.contains("Learning rate"), "the lr chart beside the reward chart")
    }

    // MARK: export --examples

    @Test func exampleRowsCarryThePredictionAsJSON() throws {
        let record = EvalExampleRecord(jobID: 1, step: 4, exampleID: "a,\"b\"", position: 2, line: 3, skill: "detect", reward: 0.25,
                                       predictionJSON: #"{"boxes":[{"x_max":0.5,"x_min":0.1,"y_max":0.5,"y_min":0.1}]}"#,
                                       imagePath: "/d/a.png", truthJSON: #"{"boxes":[],"object":"cat"}"#)
        let jsonl = EvalExamplesExport.line(record, format: .jsonl)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(jsonl.utf8)) as? [String: Any])
        #expect(object["step"] as? Int == 4 && object["example_id"] as? String == "a,\"b\"" && object["skill"] as? String == "detect")
        #expect(object["reward"] as? Double == 0.25)
        let boxes = try #require((object["prediction"] as? [String: Any])?["boxes"] as? [[String: Double]])
        #expect(boxes.first?["x_min"] == 0.1)
        #expect((object["truth"] as? [String: Any])?["object"] as? String == "cat")
        var missing = record
        missing.predictionJSON = nil
        let none = try #require(try JSONSerialization.jsonObject(with: Data(EvalExamplesExport.line(missing, format: .jsonl).utf8)) as? [String: Any])
        #expect(none["prediction"] is NSNull)

        let csv = EvalExamplesExport.line(record, format: .csv)
        #expect(EvalExamplesExport.header(.csv) == "step,example_id,position,line,skill,reward,prediction,truth,image\n")
        #expect(csv.hasPrefix(#"4,"a,""b""",2,3,detect,0.25,"{""boxes"":[{""x_max"":0.5"#), "\(csv)")
        #expect(csv.hasSuffix(",/d/a.png\n"))
    }
}
