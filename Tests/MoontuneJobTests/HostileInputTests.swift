import Foundation
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

/// Fixes found by the end-to-end bad-input table (Tests/EndToEndTests/BadInputTests.swift): every
/// refusal names a field, huge values are refused before they can overflow, whole-file dataset
/// problems point at the config line that names the file, and truncated images are caught.
@Suite("Hostile input")
struct HostileInputTests {
    private func configProblems(_ json: String) throws -> [Problem] {
        let folder = try TemporaryFolder()
        let url = try folder.config(json)
        do {
            _ = try JobConfig.load(from: url)
            return []
        } catch {
            return error.problems
        }
    }

    @Test(arguments: [
        ("{\"name\": \"j\",\n \"train\": {\"steps\": 2,, \"lr\": 1}}", 2, "train", "expected a quoted key"),
        ("{\"name\": \"j\",\n \"train\": {\"settings\": {\"top_p\": ", 2, "train.settings.top_p", "unexpected end of input"),
        ("{\"train\": {\"lr\": NaN}}", 1, "train.lr", "NaN and Infinity are not JSON numbers"),
        ("{\"api\": {\"max_backoff_s\": -Infinity}}", 1, "api.max_backoff_s", "NaN and Infinity are not JSON numbers"),
        ("{\"data\": {\"train\": \"a\u{0}b\"}}", 1, "data.train", "control character in a string"),
        ("{\"x\": [1, [2, {\"y\": tru}]]}", 1, "x[1][1].y", "unexpected word"),
        ("[1, 2", 1, "", "unexpected end of input"),
    ])
    func brokenConfigJSONNamesTheFieldItBrokeIn(_ json: String, _ line: Int, _ field: String, _ message: String) throws {
        let found = try configProblems(json)
        #expect(found.count == 1, "\(found.lines)")
        #expect(found.first?.line == line)
        #expect(found.first?.field == field)
        #expect(found.first?.message.contains(message) == true, "\(found.lines)")
    }

    @Test func deepNestingNamesAShortenedPath() throws {
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        let found = try configProblems(#"{"checkpoint": \#(deep)}"#)
        #expect(found.first?.field == "checkpoint[0][0][0][0][0][0][0]…")
        #expect(found.first?.message.contains("nesting deeper than 128 levels") == true)
    }

    @Test func brokenDatasetLineNamesTheFieldItBrokeIn() throws {
        let folder = try TemporaryFolder()
        try folder.png("img.png")
        let url = try folder.dataset([Line.point("a"), #"{"id": "b", "skill": "point", "object": "the sh"#])
        do {
            _ = try Dataset.open(url, options: DatasetOptions())
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.map(\.field) == ["object"])
            #expect(error.problems.first?.line == 2)
            #expect(error.problems.first?.message.contains("unterminated string") == true)
        }
    }

    @Test(arguments: [
        (#""steps": 99999999999999999999"#, "train.steps", "99999999999999999999 is out of range"),
        (#""steps": -99999999999999999999"#, "train.steps", "-99999999999999999999 is out of range"),
        (#""steps": 1e30"#, "train.steps", "1e30 is out of range"),
        (#""steps": 1e400"#, "train.steps", "1e400 is out of range"),
        (#""steps": 2.5"#, "train.steps", "expected an integer, got 2.5"),
        (#""steps": 100000001"#, "train.steps", "must be at most 100000000, got 100000001"),
        (#""steps": 2, "groups_per_step": 9223372036854775807"#, "train.groups_per_step", "must be at most 1024"),
        (#""steps": 2, "concurrency": 5000"#, "train.concurrency", "must be at most 1024, got 5000"),
        (#""steps": 2, "max_staleness": 9223372036854775807"#, "train.max_staleness", "must be at most 100"),
    ])
    func hugeTrainNumbersAreRefusedWithTheirLimit(_ train: String, _ field: String, _ message: String) throws {
        let found = try configProblems(#"{"name": "j", "rank": 8, "data": {"train": "t.jsonl"}, "train": {\#(train)}}"#)
        #expect(found.count == 1, "\(found.lines)")
        #expect(found.first?.field == field)
        #expect(found.first?.message.contains(message) == true, "\(found.lines)")
    }

    @Test func aNumberBeyondADoubleIsNamedByItsLiteral() throws {
        let found = try configProblems(minimalConfig(train: #""lr": 1e400"#))
        #expect(found.map(\.field) == ["train.lr"])
        #expect(found.first?.message == "1e400 is out of range (expected a finite number)")
    }

    /// Durations become nanosecond counts; a value like 1e300 seconds would trap when converted.
    @Test(arguments: ["request_timeout_s", "give_up_after_s", "max_backoff_s"])
    func absurdDurationsAreRefused(_ key: String) throws {
        let found = try configProblems(#"{"name": "j", "rank": 8, "api": {"\#(key)": 1e300}, "data": {"train": "t.jsonl"}, "train": {"steps": 1}}"#)
        #expect(found.map(\.field) == ["api.\(key)"])
        #expect(found.first?.message.contains("must be at most 10000000 seconds") == true, "\(found.lines)")
        let fine = try configProblems(#"{"name": "j", "rank": 8, "api": {"\#(key)": 86400}, "data": {"train": "t.jsonl"}, "train": {"steps": 1}}"#)
        #expect(fine.isEmpty, "\(fine.lines)")
    }

    @Test func maxResponseBytesIsReadAndHasAFloor() throws {
        let folder = try TemporaryFolder()
        let config = try JobConfig.load(from: try folder.config(minimalConfig(top: #""api": {"max_response_bytes": 262144}"#))).config
        #expect(config.api.maxResponseBytes == 262_144)
        #expect(try JobConfig.load(from: try folder.config(minimalConfig())).config.api.maxResponseBytes == 64 << 20)
        #expect(config.snapshotJSON.contains(#""max_response_bytes":262144"#))
        let found = try configProblems(minimalConfig(top: #""api": {"max_response_bytes": 10}"#))
        #expect(found.map(\.field) == ["api.max_response_bytes"])
    }

    @Test func aMissingEmptyOrFolderDatasetPointsAtTheConfigLineThatNamesIt() throws {
        let folder = try TemporaryFolder()
        try folder.write("empty.jsonl", "")
        try FileManager.default.createDirectory(at: folder.path("adir.jsonl"), withIntermediateDirectories: true)
        for (train, message) in [("absent.jsonl", "cannot read the dataset"), ("empty.jsonl", "the dataset is empty"),
                                 ("adir.jsonl", "cannot read the dataset")] {
            let url = try folder.config("{\n\"name\": \"j\", \"rank\": 8,\n\"data\": {\"train\": \"\(train)\"},\n\"train\": {\"steps\": 1}}")
            let report = validateJob(configURL: url)
            #expect(report.problems.count == 1, "\(report.problems.lines)")
            let problem = try #require(report.problems.first)
            #expect(problem.file == url.path)
            #expect(problem.line == 3)
            #expect(problem.field == "data.train")
            #expect(problem.message.hasPrefix(train) || problem.message.contains("/\(train): "), "\(problem)")
            #expect(problem.message.contains(message), "\(problem)")
        }
    }

    @Test func aNamedPipeIsRefusedWithoutWaitingForAWriter() throws {
        let folder = try TemporaryFolder()
        #expect(mkfifo(folder.path("pipe.jsonl").path, 0o600) == 0)
        #expect(mkfifo(folder.path("pipe.png").path, 0o600) == 0)
        let url = try folder.config(minimalConfig().replacingOccurrences(of: "train.jsonl", with: "pipe.jsonl"))
        let report = validateJob(configURL: url)
        #expect(report.problems.map(\.field) == ["data.train"])
        #expect(report.problems.first?.message.contains("is not a regular file") == true, "\(report.problems.lines)")
        let locator = ImageLocator(datasetURL: folder.path("train.jsonl"), maxBytes: 1 << 20, allowOutside: false)
        guard case .failure(let error) = locator.probe(folder.path("pipe.png")) else {
            Issue.record("a named pipe was taken for an image")
            return
        }
        #expect(error.message.contains("is not a regular file"))
    }

    @Test func swappedLettersAreOneEditAway() {
        #expect(KeySuggestion.editDistance("qeury", "query") == 1)
        #expect(KeySuggestion.editDistance("ca", "abc") == 3)
        #expect(KeySuggestion.editDistance("kitten", "sitting") == 3)
        #expect(KeySuggestion.suggest("qeury", known: ["query", "point", "detect"]) == "query")
        #expect(KeySuggestion.suggest("setps", known: ["steps", "seed"]) == "steps")
    }

    @Test func truncatedImagesAreRefusedAndWholeOnesAccepted() throws {
        let folder = try TemporaryFolder()
        let locator = ImageLocator(datasetURL: folder.path("train.jsonl"), maxBytes: 1 << 20, allowOutside: false)
        let samples: [(String, [UInt8], String)] = [
            ("png", TestImages.png(width: 20, height: 20), "truncated or damaged PNG"),
            ("jpg", TestImages.jpeg(width: 20, height: 20, padding: 4000), "truncated or damaged JPEG"),
            ("gif", TestImages.gif(width: 3, height: 3), "truncated or damaged GIF"),
            ("webp", TestImages.webpLossy(width: 20, height: 20), "truncated WebP"),
        ]
        for (ext, whole, message) in samples {
            let good = try folder.write("whole.\(ext)", whole)
            #expect(throws: Never.self, "\(ext)") { try locator.probe(good).get() }
            let cut = try folder.write("cut.\(ext)", Array(whole.prefix(whole.count - 2)))
            switch locator.probe(cut) {
            case .success: Issue.record("a truncated \(ext) was accepted")
            case .failure(let error): #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }
}
