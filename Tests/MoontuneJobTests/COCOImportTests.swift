import Foundation
import MoondreamAPI
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("COCO import")
struct COCOImportTests {
    private let coco = """
        {"info": {"description": "test"},
         "images": [
           {"id": 1, "file_name": "kitchen.jpg", "width": 640, "height": 480},
           {"id": 2, "file_name": "street.jpg", "width": 200, "height": 100},
           {"id": 3, "file_name": "empty.jpg", "width": 50, "height": 50}
         ],
         "annotations": [
           {"id": 10, "image_id": 1, "category_id": 7, "bbox": [64, 48, 128, 96], "area": 1, "iscrowd": 0},
           {"id": 11, "image_id": 1, "category_id": 7, "bbox": [320, 240, 320, 240], "iscrowd": 0},
           {"id": 12, "image_id": 1, "category_id": 3, "bbox": [0, 0, 640, 480]},
           {"id": 13, "image_id": 2, "category_id": 3, "bbox": [10, 20, 50, 30]},
           {"id": 14, "image_id": 2, "category_id": 3, "bbox": [0, 0, 200, 100], "iscrowd": 1},
           {"id": 15, "image_id": 2, "category_id": 7, "bbox": [190, 90, 20, 20]},
           {"id": 16, "image_id": 2, "category_id": 7, "bbox": [5, 5, 0, 10]}
         ],
         "categories": [{"id": 3, "name": "car"}, {"id": 7, "name": "cup"}]}
        """

    private func lines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    private func boxes(_ line: [String: Any]) -> [[Double]] {
        let truth = line["ground_truth"] as? [String: Any]
        let boxes = truth?["boxes"] as? [[String: Double]] ?? []
        return boxes.map { [$0["x_min"] ?? -1, $0["y_min"] ?? -1, $0["x_max"] ?? -1, $0["y_max"] ?? -1] }
    }

    private func close(_ a: [[Double]], _ b: [[Double]]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { zip($0, $1).allSatisfy { abs($0 - $1) < 1e-12 } }
    }

    @Test func boxesAreNormalizedOneExamplePerImageAndCategory() throws {
        let folder = try TemporaryFolder()
        let annotations = try folder.write("instances.json", coco)
        let output = folder.path("train.jsonl")
        let summary = try importCOCO(annotations: annotations, images: folder.path("images"), output: output)
        #expect(summary.examples == 4)
        #expect(summary.images == 2)
        #expect(summary.boxes == 5)
        #expect(summary.skippedCrowd == 1)
        #expect(summary.skippedEmpty == 1)
        #expect(summary.imagesWithoutAnnotations == 1)
        #expect(summary.absolutePaths == false)

        let written = try lines(output)
        #expect(written.map { $0["id"] as? String } == ["1-3", "1-7", "2-3", "2-7"])
        #expect(written.map { $0["object"] as? String } == ["car", "cup", "car", "cup"])
        #expect(written.allSatisfy { $0["skill"] as? String == "detect" })
        #expect(written.first?["image"] as? String == "images/kitchen.jpg")
        // By hand: [x, y, w, h] / (640, 480) and / (200, 100).
        #expect(close(boxes(written[0]), [[0, 0, 1, 1]]))
        #expect(close(boxes(written[1]), [[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 1.0, 1.0]]))
        #expect(close(boxes(written[2]), [[0.05, 0.2, 0.3, 0.5]]))
        // 190 + 20 overhangs the 200-pixel width: clamped to 1.
        #expect(close(boxes(written[3]), [[0.95, 0.9, 1.0, 1.0]]))
    }

    @Test func pointSkillKeepsBoxesForContainment() throws {
        let folder = try TemporaryFolder()
        let annotations = try folder.write("instances.json", coco)
        let output = folder.path("point.jsonl")
        _ = try importCOCO(annotations: annotations, images: folder.url, output: output, skill: .point)
        let written = try lines(output)
        #expect(written.allSatisfy { $0["skill"] as? String == "point" })
        #expect(written.first?["image"] as? String == "kitchen.jpg")
    }

    @Test func importedFileIsAValidDatasetWhenTheImagesExist() throws {
        let folder = try TemporaryFolder()
        try folder.write("data/images/kitchen.jpg", TestImages.jpeg(width: 640, height: 480))
        try folder.write("data/images/street.jpg", TestImages.jpeg(width: 200, height: 100))
        let annotations = try folder.write("instances.json", coco)
        let output = folder.path("data/train.jsonl")
        _ = try importCOCO(annotations: annotations, images: folder.path("data/images"), output: output)
        let dataset = try Dataset.open(output, options: DatasetOptions())
        #expect(dataset.count == 4)
        #expect(dataset.stats.imagesByFormat == [.jpeg: 4])
        #expect(try dataset.example(at: 1).groundTruth == .boxes([
            Box(xMin: 0.1, yMin: 0.1, xMax: 0.3, yMax: 0.3), Box(xMin: 0.5, yMin: 0.5, xMax: 1, yMax: 1),
        ]))
    }

    @Test func imagesOutsideTheOutputFolderGetAbsolutePaths() throws {
        let folder = try TemporaryFolder()
        let annotations = try folder.write("instances.json", coco)
        let output = folder.path("out/train.jsonl")
        try FileManager.default.createDirectory(at: folder.path("out"), withIntermediateDirectories: true)
        let summary = try importCOCO(annotations: annotations, images: folder.path("pics"), output: output)
        #expect(summary.absolutePaths)
        #expect(try lines(output).first?["image"] as? String == folder.path("pics/kitchen.jpg").standardizedFileURL.path)
    }

    @Test func missingSizesAreReadFromTheImageHeaders() throws {
        let folder = try TemporaryFolder()
        try folder.write("a.gif", TestImages.gif(width: 400, height: 200))
        let annotations = try folder.write("instances.json", """
            {"images": [{"id": 1, "file_name": "a.gif"}],
             "annotations": [{"image_id": 1, "category_id": 1, "bbox": [100, 50, 100, 100]}],
             "categories": [{"id": 1, "name": "dog"}]}
            """)
        let output = folder.path("train.jsonl")
        _ = try importCOCO(annotations: annotations, images: folder.url, output: output)
        #expect(close(boxes(try lines(output)[0]), [[0.25, 0.25, 0.5, 0.75]]))
    }

    @Test func badReferencesAreAllReportedAndNothingIsWritten() throws {
        let folder = try TemporaryFolder()
        let annotations = try folder.write("instances.json", """
            {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
             "annotations": [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]},
                             {"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]},
                             {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}],
             "categories": [{"id": 1, "name": "dog"}]}
            """)
        let output = folder.path("train.jsonl")
        do {
            _ = try importCOCO(annotations: annotations, images: folder.url, output: output)
            Issue.record("expected problems")
        } catch {
            #expect(error.problems.map(\.field) == ["annotations[0].image_id", "annotations[1].category_id", "annotations[2].bbox"])
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    @Test func fileThatIsNotCOCOSaysWhichFieldIsMissing() throws {
        let folder = try TemporaryFolder()
        let annotations = try folder.write("instances.json", #"{"images": [{"id": 1, "file_name": "a.jpg"}], "categories": []}"#)
        do {
            _ = try importCOCO(annotations: annotations, images: folder.url, output: folder.path("t.jsonl"))
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.first?.field == "annotations")
            #expect(error.problems.first?.message.hasPrefix("missing") == true)
        }
    }
}
