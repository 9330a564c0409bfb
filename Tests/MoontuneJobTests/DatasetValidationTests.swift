import Foundation
import MoondreamAPI
import Crypto
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Dataset validation")
struct DatasetValidationTests {
    /// Writes `lines` as train.jsonl next to img.png and returns the problems of opening it.
    private func problems(_ lines: [String], options: DatasetOptions = DatasetOptions(),
                          prepare: (TemporaryFolder) throws -> Void = { _ in }) throws -> [Problem] {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        try prepare(folder)
        let url = try folder.dataset(lines)
        do {
            _ = try Dataset.open(url, options: options)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func validLinesOfEverySkillOpen() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        let url = try folder.dataset([
            Line.point("p1"),
            #"{"id": "p2", "image": "img.png", "skill": "point", "object": "cat", "ground_truth": {"boxes": [{"x_min": 0, "y_min": 0, "x_max": 1, "y_max": 1}]}}"#,
            Line.detect("d1"),
            Line.detect("d2", boxes: "[]"),
            Line.query("q1", answer: #"["red", "crimson"]"#),
            #"{"id": "q2", "skill": "query", "question": "2+2?", "answer": "4"}"#,
        ])
        let dataset = try Dataset.open(url, options: DatasetOptions())
        #expect(dataset.count == 6)
        #expect(dataset.skills == [.point, .detect, .query])
        #expect(dataset.stats.perSkill == [.point: 2, .detect: 2, .query: 2])
        let query = try dataset.example(at: 4)
        #expect(query.answers == ["red", "crimson"])
        #expect(query.groundTruth == nil)
        #expect(try dataset.example(at: 3).groundTruth == .boxes([]))
        #expect(try dataset.example(at: 5).image == nil)
        #expect(try dataset.example(at: 1).groundTruth == .boxes([Box(xMin: 0, yMin: 0, xMax: 1, yMax: 1)]))
    }

    @Test func brokenJSONNamesFileLineAndColumn() throws {
        let found = try problems([Line.point("a"), #"{"id": "b", "skill": "point""#])
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.file.hasSuffix("train.jsonl") == true)
        #expect(found.first?.message.hasPrefix("invalid JSON at column 29") == true)
    }

    @Test(arguments: [
        (#"{"id": "a", "image": "img.png", "object": "x", "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}"#, "skill"),
        (#"{"id": "a", "image": "img.png", "skill": "point", "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}"#, "object"),
        (#"{"id": "a", "skill": "point", "object": "x", "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}"#, "image"),
        (#"{"id": "a", "image": "img.png", "skill": "detect", "object": "x"}"#, "ground_truth"),
        (#"{"id": "a", "image": "img.png", "skill": "query", "answer": "red"}"#, "question"),
        (#"{"id": "a", "image": "img.png", "skill": "query", "question": "q?"}"#, "answer"),
        (#"{"id": "a", "image": "img.png", "skill": "point", "object": "x", "ground_truth": {"points": [{"x": 0.5}]}}"#, "ground_truth.points[0].y"),
    ])
    func missingFieldIsNamed(line: String, field: String) throws {
        let found = try problems([line])
        #expect(found.lines == ["train.jsonl:1: \(field): \(found.first?.message ?? "")"].map { _ in found.first?.description ?? "" })
        #expect(found.count == 1)
        #expect(found.first?.field == field)
        #expect(found.first?.line == 1)
        #expect(found.first?.message.hasPrefix("missing") == true)
    }

    @Test func unknownSkillIsNamedWithASuggestion() throws {
        let found = try problems([#"{"id": "a", "image": "img.png", "skill": "detection", "object": "x"}"#])
        #expect(found.first?.field == "skill")
        #expect(found.first?.message == #"unknown skill "detection" (expected point, detect or query); did you mean "detect"?"#)
    }

    @Test func coordinateOutsideZeroToOneIsNamed() throws {
        let found = try problems([Line.point("a", x: 1.5, y: 0.2)])
        #expect(found.first?.field == "ground_truth.points[0].x")
        #expect(found.first?.message.contains("outside 0–1") == true)
    }

    @Test func negativeBoxCoordinateIsNamed() throws {
        let found = try problems([Line.detect("a", boxes: #"[{"x_min": 0.1, "y_min": -0.2, "x_max": 0.4, "y_max": 0.6}]"#)])
        #expect(found.first?.field == "ground_truth.boxes[0].y_min")
    }

    @Test func boxWithMinAboveMaxIsNamed() throws {
        let found = try problems([Line.detect("a", boxes: #"[{"x_min": 0.1, "y_min": 0.2, "x_max": 0.4, "y_max": 0.6}, {"x_min": 0.5, "y_min": 0.2, "x_max": 0.4, "y_max": 0.6}]"#)])
        #expect(found.count == 1)
        #expect(found.first?.field == "ground_truth.boxes[1].x_min")
        #expect(found.first?.message == "x_min (0.5) is greater than x_max (0.4)")
    }

    @Test func nanCoordinateIsNamed() throws {
        let found = try problems([#"{"id": "a", "image": "img.png", "skill": "point", "object": "x", "ground_truth": {"points": [{"x": 0.5, "y": NaN}]}}"#])
        #expect(found.first?.field == "ground_truth.points[0].y")
        #expect(found.first?.message.hasPrefix("NaN is not a coordinate") == true)
    }

    @Test func missingImageFileIsNamed() throws {
        let found = try problems([Line.point("a", image: "images/nope.png")])
        #expect(found.first?.field == "image")
        #expect(found.first?.line == 1)
        #expect(found.first?.message.contains("nope.png: no such file") == true)
    }

    @Test func unreadableImageIsNamed() throws {
        let found = try problems([Line.point("a", image: "folder")]) { folder in
            try FileManager.default.createDirectory(at: folder.path("folder"), withIntermediateDirectories: true)
        }
        #expect(found.first?.field == "image")
        #expect(found.first?.message.contains("is a folder, not a file") == true)
    }

    @Test func fileThatIsNotAnImageIsRefusedWhateverItsExtension() throws {
        let found = try problems([Line.point("a", image: "fake.png")]) { folder in
            try folder.write("fake.png", "this is text, not a picture")
        }
        #expect(found.first?.field == "image")
        #expect(found.first?.message.contains("is not a JPEG, PNG, WebP or GIF image") == true)
    }

    @Test func imageAboveTheSizeCapIsRefused() throws {
        var options = DatasetOptions()
        options.maxImageBytes = 50
        let found = try problems([Line.point("a", image: "big.png")], options: options) { folder in
            try folder.png("big.png", width: 40, height: 40)
        }
        #expect(found.first?.field == "image")
        #expect(found.first?.message.contains("above the cap of 50 (data.max_image_bytes)") == true)
    }

    @Test func duplicateIdsAreReportedOnTheLaterLine() throws {
        let found = try problems([Line.point("a"), Line.point("b"), Line.point("a"), Line.point("c"), Line.point("b")])
        #expect(found.lines.map { $0.split(separator: "/").last.map(String.init) ?? "" } == [
            #"train.jsonl:3: id: duplicate id "a" (first used on line 1)"#,
            #"train.jsonl:5: id: duplicate id "b" (first used on line 2)"#,
        ])
    }

    @Test func explicitIdEqualToAnotherLinesNumberIsADuplicate() throws {
        // Line 2 has no id, so its id is "2"; line 1 claims "2" too.
        let found = try problems([
            #"{"id": 2, "skill": "query", "question": "q", "answer": "a"}"#,
            #"{"skill": "query", "question": "q", "answer": "a"}"#,
        ])
        #expect(found.first?.line == 2)
        #expect(found.first?.message == #"duplicate id "2" (first used on line 1)"#)
    }

    @Test func emptyFileIsAProblem() throws {
        let found = try problems([])
        #expect(found.count == 1)
        #expect(found.first?.message == "the dataset is empty (no examples)")
        #expect(try problems(["", "   "]).first?.message == "the dataset is empty (no examples)")
    }

    @Test func everyBadLineIsReportedNotJustTheFirst() throws {
        let found = try problems([Line.point("a", x: 2), Line.point("b"), "not json", Line.detect("c", boxes: "{}"), Line.query("d", answer: "[]")])
        #expect(found.compactMap(\.line) == [1, 3, 4, 5])
        #expect(found.map(\.field) == ["ground_truth.points[0].x", "", "ground_truth.boxes", "answer"])
    }

    @Test func lineWithSeveralProblemsReportsEachOfThem() throws {
        let found = try problems([#"{"id": "a", "image": "gone.png", "skill": "point", "object": "", "ground_truth": {"points": [{"x": 1.5, "y": -1}]}}"#])
        #expect(found.map(\.field) == ["object", "ground_truth.points[0].x", "ground_truth.points[0].y", "image"])
        #expect(found.allSatisfy { $0.line == 1 })
    }

    @Test func blankLinesCRLFAndByteOrderMarkAreAccepted() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        let text = Line.point("a") + "\r\n\r\n" + Line.point("b") + "\r\n"
        let url = try folder.write("train.jsonl", [0xEF, 0xBB, 0xBF] + Array(text.utf8))
        let dataset = try Dataset.open(url, options: DatasetOptions())
        #expect(dataset.count == 2)
        let second = try dataset.example(at: 1)
        #expect(second.id == "b")
        #expect(second.line == 3)
        #expect(second.index == 1)
    }

    @Test func idDefaultsToTheLineNumber() throws {
        let folder = try TemporaryFolder()
        let url = try folder.dataset(["", #"{"skill": "query", "question": "q", "answer": "a"}"#])
        #expect(try Dataset.open(url, options: DatasetOptions()).example(at: 0).id == "2")
    }

    @Test func misspelledKeyIsReportedButOtherExtraKeysAreMetadata() throws {
        let found = try problems([#"{"id": "a", "image": "img.png", "skill": "detect", "object": "x", "ground_truht": {"boxes": []}, "source": "web"}"#])
        #expect(found.contains { $0.field == "ground_truht" && $0.message == #"unknown key; did you mean "ground_truth"?"# })
        #expect(!found.contains { $0.field == "source" })
    }

    @Test func pointNeedsAtLeastOnePointOrBoxAndDetectTakesBoxesOnly() throws {
        let found = try problems([
            #"{"id": "a", "image": "img.png", "skill": "point", "object": "x", "ground_truth": {"points": []}}"#,
            #"{"id": "b", "image": "img.png", "skill": "detect", "object": "x", "ground_truth": {"points": [{"x": 0.1, "y": 0.1}]}}"#,
            #"{"id": "c", "image": "img.png", "skill": "point", "object": "x", "ground_truth": {"points": [{"x": 0.1, "y": 0.1}], "boxes": []}}"#,
        ])
        #expect(found.map(\.field) == ["ground_truth.points", "ground_truth.points", "ground_truth"])
    }

    @Test func regexAnswersMustCompileWhenRewardIsRegex() throws {
        let found = try problems([Line.query("a", answer: #"["(red", "blue"]"#)], options: DatasetOptions(queryMatch: .regex))
        #expect(found.first?.field == "answer[0]")
        #expect(found.first?.message.contains("not a valid regular expression") == true)
    }

    @Test func numericAnswersMustHoldANumberWhenRewardIsNumeric() throws {
        let found = try problems([Line.query("a", answer: #""many""#), Line.query("b", answer: #""3""#)],
                                 options: DatasetOptions(queryMatch: .numeric))
        #expect(found.count == 1)
        #expect(found.first?.line == 1)
        #expect(found.first?.message.contains("has no number in it") == true)
    }

    @Test func overlongLineIsRefusedWithoutHoldingIt() throws {
        var options = DatasetOptions()
        options.maxLineBytes = 300
        let long = #"{"id": "x", "skill": "query", "question": ""# + String(repeating: "q", count: 500) + #"", "answer": "a"}"#
        let found = try problems([long, Line.point("b")], options: options)
        #expect(found.count == 1)
        #expect(found.first?.line == 1)
        #expect(found.first?.message == "line is longer than 300 bytes")
    }

    @Test func examplesAreReadBackFromTheirLineByIndex() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        let lines = (0..<500).map { Line.point("e\($0)", x: Double($0 % 100) / 100) }
        let dataset = try Dataset.open(try folder.dataset(lines), options: DatasetOptions())
        #expect(dataset.count == 500)
        for index in [0, 1, 250, 499] {
            let example = try dataset.example(at: index)
            #expect(example.id == "e\(index)")
            #expect(example.line == index + 1)
            #expect(example.groundTruth == .points([Point(x: Double(index % 100) / 100, y: 0.5)]))
        }
        #expect(throws: DatasetError.self) { try dataset.example(at: 500) }
    }

    @Test func fingerprintFollowsTheContents() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        let a = try Dataset.open(try folder.dataset([Line.point("x")], name: "a.jsonl"), options: DatasetOptions()).fingerprint
        let b = try Dataset.open(try folder.dataset([Line.point("x")], name: "b.jsonl"), options: DatasetOptions()).fingerprint
        let c = try Dataset.open(try folder.dataset([Line.point("y")], name: "c.jsonl"), options: DatasetOptions()).fingerprint
        #expect(a.sha256 == b.sha256)
        #expect(a.contentID == b.contentID)
        #expect(a.sha256 != c.sha256)
        #expect(a.byteCount == Line.point("x").utf8.count + 1)
        var hash = SHA256()
        hash.update(data: Array((Line.point("x") + "\n").utf8))
        #expect(a.sha256 == hash.finalize().hexString)
    }

    /// swift-crypto replaced a hand-written SHA-256: digests recorded in databases, index caches
    /// and fingerprints must stay the same hex, so the known vectors are checked through the
    /// same `hexString` the code records.
    @Test func sha256MatchesTheStandardTestVectors() {
        let empty = SHA256()
        #expect(empty.finalize().hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = SHA256()
        abc.update(data: Array("abc".utf8))
        #expect(abc.finalize().hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // 1,000,000 × "a", fed in uneven pieces to cross block boundaries.
        var million = SHA256()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let count = min(piece, 1_000_000 - fed)
            million.update(data: [UInt8](repeating: UInt8(ascii: "a"), count: count))
            fed += count
            piece = piece * 3 % 997 + 1
        }
        #expect(million.finalize().hexString == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
