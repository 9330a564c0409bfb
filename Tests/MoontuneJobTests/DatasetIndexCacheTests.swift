import Foundation
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON
import Testing

@Suite struct DatasetIndexCacheTests {
    static func line(_ id: String, object: String = "the cat") -> String {
        #"{"id": "\#(id)", "image": "images/a.png", "skill": "point", "object": "\#(object)", "ground_truth": {"points": [{"x": 0.5, "y": 0.5}]}}"#
    }

    /// A folder with an image, a dataset of `count` lines and a cache folder beside it. The
    /// folder is removed when the fixture goes, so tests keep it to their end.
    struct Fixture {
        let folder: TemporaryFolder
        let url: URL
        let cache: DatasetIndexCache

        init(count: Int = 40) throws {
            folder = try TemporaryFolder()
            try folder.png("images/a.png", width: 16, height: 12)
            url = try folder.dataset((0..<count).map { DatasetIndexCacheTests.line("ex\($0)") })
            cache = DatasetIndexCache(directory: folder.path("state.sqlite.cache"))
        }
    }

    let options = DatasetOptions()

    @Test func aSecondOpenComesFromTheCacheAndMatchesAFullScan() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let cache = fixture.cache
        let first = cache.scan(url, options: options)
        guard case .indexed = first.source else {
            Issue.record("the first open should index, got \(first.source)")
            return
        }
        let second = cache.scan(url, options: options)
        #expect(second.source == .cache)
        let full = DatasetScanner(url: url, options: options).scan()
        #expect(second.scan.index.offsets == full.index.offsets)
        #expect(second.scan.index.lengths == full.index.lengths)
        #expect(second.scan.index.lines == full.index.lines)
        #expect(second.scan.fingerprint == full.fingerprint)
        #expect(second.scan.stats == full.stats)

        let cached = try Dataset.open(url, options: options, cache: cache)
        let scanned = try Dataset.open(url, options: options)
        #expect(cached.count == 40)
        for position in 0..<cached.count {
            #expect(try cached.example(at: position) == scanned.example(at: position))
        }
    }

    @Test func aStoppedScanIsInvalidIsNotStoredAndTheNextScanIndexesInFull() throws {
        let count = 3 * DatasetScanner.stopCheckLines
        let fixture = try Fixture(count: count)
        defer { withExtendedLifetime(fixture) {} }
        let stop = ScanStop()
        stop.request()
        let stopped = fixture.cache.scan(fixture.url, options: options, stop: stop)
        #expect(stopped.scan.stopped)
        #expect(stopped.scan.index.count < count)
        #expect(stopped.scan.fingerprint == nil, "no fingerprint of half a file")
        #expect(stopped.scan.problems.map(\.message).contains { $0.contains("the scan was stopped") }, "a stopped scan is never valid")
        guard case .failure = fixture.cache.lookup(fixture.url, options: options) else {
            Issue.record("a stopped scan must not be stored")
            return
        }
        let again = fixture.cache.scan(fixture.url, options: options, stop: ScanStop())
        #expect(!again.scan.stopped && again.scan.problems.isEmpty && again.scan.index.count == count)
        #expect(fixture.cache.scan(fixture.url, options: options).source == .cache)
    }

    @Test func anAppendedLineIsIndexedAgain() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let folder = fixture.folder
        let cache = fixture.cache
        _ = cache.scan(url, options: options)
        try folder.dataset((0..<41).map { Self.line("ex\($0)") })
        let again = cache.scan(url, options: options)
        #expect(again.source != .cache)
        #expect(again.scan.index.count == 41)
        #expect(cache.scan(url, options: options).source == .cache, "the new entry is used next time")
    }

    @Test func anEditThatKeepsTheSizeAndTheModificationTimeIsIndexedAgain() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let folder = fixture.folder
        let cache = fixture.cache
        _ = cache.scan(url, options: options)
        let modified = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date)
        // Same length, other contents, and the old mtime put back, as `rsync -t` or `touch -d` can.
        var lines = (0..<40).map { Self.line("ex\($0)") }
        lines[7] = Self.line("ex7", object: "the dog")
        try folder.dataset(lines)
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: url.path)
        let again = cache.scan(url, options: options)
        #expect(again.source != .cache)
        #expect(try Dataset(scan: again.scan, url: url)?.example(at: 7).object == "the dog")
    }

    @Test func otherOptionsDoNotUseTheEntry() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let cache = fixture.cache
        _ = cache.scan(url, options: options)
        var stricter = options
        stricter.maxImageBytes = 100
        let again = cache.scan(url, options: stricter)
        #expect(again.source == .indexed(missReason: "checked with other options"))
        #expect(!again.scan.problems.isEmpty, "the stricter cap refuses the image")
    }

    @Test func aDamagedEntryIsIgnoredAndReplaced() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let cache = fixture.cache
        _ = cache.scan(url, options: options)
        let entry = cache.entryURL(for: url)
        var bytes = try [UInt8](Data(contentsOf: entry))
        bytes[bytes.count - 10] ^= 0xFF
        try Data(bytes).write(to: entry)
        #expect(cache.scan(url, options: options).source == .indexed(missReason: "the entry's checksum does not match"))
        #expect(cache.scan(url, options: options).source == .cache)
    }

    @Test func aTruncatedOrForeignEntryIsIgnored() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let cache = fixture.cache
        _ = cache.scan(url, options: options)
        let entry = cache.entryURL(for: url)
        let bytes = try Data(contentsOf: entry)
        try bytes.prefix(bytes.count - 3).write(to: entry)
        #expect(cache.scan(url, options: options).source == .indexed(missReason: "truncated or damaged entry"))
        try Data("SQLite format 3\0 and more".utf8).write(to: entry)
        #expect(cache.scan(url, options: options).source == .indexed(missReason: "not an index entry of this format"))
    }

    @Test func aDatasetWithProblemsIsNeverCached() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let folder = fixture.folder
        let cache = fixture.cache
        try folder.dataset([Self.line("a"), #"{"id": "b", "skill": "point"}"#])
        let scan = cache.scan(url, options: options)
        #expect(!scan.scan.problems.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: cache.entryURL(for: url).path))
        #expect(throws: DatasetError.self) { try Dataset.open(url, options: options, cache: cache) }
    }

    @Test func theSpotCheckCatchesLinesThatMoved() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        var scan = DatasetScanner(url: url, options: options).scan()
        #expect(DatasetIndexCache.spotCheck(scan) == nil)
        let shifted = try #require(LineIndex(cachedOffsets: scan.index.offsets.map { $0 + 1 }, lengths: scan.index.lengths,
                                             lines: scan.index.lines))
        scan.index = shifted
        #expect(DatasetIndexCache.spotCheck(scan) != nil)
    }

    @Test func anUnwritableCacheFolderOnlyCostsTheFullScan() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let url = fixture.url
        let folder = fixture.folder
        // The cache "folder" is a regular file: nothing can be stored under it.
        let blocked = DatasetIndexCache(directory: try folder.write("not-a-folder", "x"))
        let first = try Dataset.open(url, options: options, cache: blocked)
        #expect(first.count == 40)
        #expect(blocked.scan(url, options: options).source != .cache)
    }

    @Test func validateJobReadsTheCacheItIsGivenAndOnlyThatOne() throws {
        let fixture = try Fixture()
        defer { withExtendedLifetime(fixture) {} }
        let folder = fixture.folder
        let cache = fixture.cache
        let config = try folder.config("""
            {"name": "cached", "rank": 8, "data": {"train": "train.jsonl"}, "train": {"steps": 3, "groups_per_step": 4}}
            """)
        let plain = validateJob(configURL: config)
        #expect(plain.isValid)
        #expect(!FileManager.default.fileExists(atPath: cache.directory.path), "validate without a cache writes none")
        let first = validateJob(configURL: config, indexCache: cache)
        let second = validateJob(configURL: config, indexCache: cache)
        #expect(second.isValid)
        #expect(second.summary == first.summary)
        #expect(second.summary == plain.summary)
        #expect(second.train?.fingerprint == plain.train?.fingerprint)
    }
}
