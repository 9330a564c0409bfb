import MoontuneConfig
import MoontuneJSON
import Crypto
import Foundation
import MoondreamAPI

/// What indexing a dataset found, kept on disk so that the next run of a job (a resume, a
/// restart, another job on the same file) starts without reading and checking every line again.
///
/// An entry holds the line index (16 bytes per example), the content hash and the statistics of
/// a dataset that indexed without a single problem. It is used only when all of these match:
/// - the dataset file's identity: device, inode, size, and mtime and ctime to the nanosecond
///   (any write changes the ctime, which no user tool can set back);
/// - the options the lines were checked with (image size cap, path rules, query matching...);
/// - the moontune executable that checked them, since another build may check more;
/// - a spot check: a sample of indexed lines still starts and ends at line breaks and parses.
///
/// Anything else (a missing, stale, foreign or damaged entry) is a miss, and the dataset is
/// indexed in full again. Image files are checked when the dataset is first indexed, not on a
/// hit: each is read again when its request is built, and a missing or broken one fails that
/// step with an error naming it, before anything about the step is recorded.
/// See docs/performance.md.
public struct DatasetIndexCache: Sendable {
    /// The folder holding one entry file per dataset path.
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// The cache that goes with a state database: the folder `<database>.cache` beside it.
    public init(databasePath: String) {
        self.init(directory: URL(fileURLWithPath: databasePath + ".cache", isDirectory: true))
    }

    /// Bumped whenever the entry layout changes.
    package static let formatVersion = 1
    package static let magic: [UInt8] = Array("MTIDX".utf8) + [0, 0, 1]
    /// How many lines the spot check reads back on a hit.
    package static let spotCheckLines = 64

    /// Where the entry of the dataset at `url` lives: named by a hash of its canonical path.
    package func entryURL(for url: URL) -> URL {
        var hash = SHA256()
        hash.update(data: Array(Self.canonicalPath(url).utf8))
        return directory.appendingPathComponent("dataset-\(hash.finalize().hexString.prefix(24)).index")
    }

    package static func canonicalPath(_ url: URL) -> String {
        realPath(url.path) ?? url.standardizedFileURL.path
    }

    /// The options as they take part in an entry's key: every field that changes what passes.
    package static func optionsKey(_ options: DatasetOptions) -> String {
        "max_image_bytes=\(options.maxImageBytes);allow_absolute_paths=\(options.allowAbsolutePaths);"
            + "read_image_headers=\(options.readImageHeaders);query_match=\(options.queryMatch?.rawValue ?? "-");"
            + "max_line_bytes=\(options.maxLineBytes);max_problems=\(options.maxProblems)"
    }

    /// The identity of the running executable: an entry written by another build is not trusted.
    package static let builder: String = {
        guard let path = Bundle.main.executablePath, let identity = FileIdentity.of(path: path) else { return "unknown" }
        return "\(identity.size):\(identity.modifiedNs)"
    }()

    // MARK: - Scanning through the cache

    /// Whether a scan came from the cache, and why not when it did not.
    package enum Source: Equatable {
        case cache
        case indexed(missReason: String)
    }

    /// The scan of `url`: from the cache when a valid entry exists, otherwise a full scan, whose
    /// result is then stored if it found no problem (a scan cut short by `stop` is not stored).
    package func scan(_ url: URL, options: DatasetOptions, stop: ScanStop? = nil) -> (scan: DatasetScanner.Scan, source: Source) {
        switch lookup(url, options: options) {
        case .success(let scan):
            return (scan, .cache)
        case .failure(let miss):
            let scan = DatasetScanner(url: url, options: options, stop: stop).scan()
            store(scan, url: url, options: options)
            return (scan, .indexed(missReason: miss.reason))
        }
    }

    /// Why an entry was not used.
    package struct Miss: Error, Equatable {
        package var reason: String
    }

    /// The scan an entry holds for `url`, or why there is none to trust.
    package func lookup(_ url: URL, options: DatasetOptions) -> Result<DatasetScanner.Scan, Miss> {
        let entry: FileReader
        do {
            entry = try FileReader(path: entryURL(for: url).path)
        } catch {
            return .failure(Miss(reason: "no entry (\(error.message))"))
        }
        let contents: Contents
        do {
            contents = try Contents.read(from: entry)
        } catch {
            return .failure(error)
        }
        let header = contents.header
        guard header.path == Self.canonicalPath(url) else { return .failure(Miss(reason: "the entry is for \(header.path)")) }
        guard header.options == Self.optionsKey(options) else { return .failure(Miss(reason: "checked with other options")) }
        guard header.builder == Self.builder else { return .failure(Miss(reason: "written by another moontune build")) }
        let reader: FileReader
        do {
            reader = try FileReader(path: url.path)
        } catch {
            return .failure(Miss(reason: "the dataset cannot be read: \(error.message)"))
        }
        guard reader.identity == header.file else { return .failure(Miss(reason: "the dataset changed since it was indexed")) }

        let file = displayPath(url)
        let images = ImageLocator(datasetURL: url, maxBytes: options.maxImageBytes, allowOutside: options.allowAbsolutePaths)
        var scan = DatasetScanner.Scan(parser: ExampleParser(file: file, images: images, queryMatch: options.queryMatch))
        scan.reader = reader
        scan.index = contents.index
        scan.stats = header.stats.stats
        scan.fingerprint = DatasetFingerprint(byteCount: Int(header.file.size), modifiedMs: reader.modifiedMs, sha256: header.sha256)
        if let problem = Self.spotCheck(scan) { return .failure(Miss(reason: problem)) }
        return .success(scan)
    }

    /// Stores a clean scan. A cache is an optimization: when the entry cannot be written (no
    /// space, a read-only folder) the next run indexes again, and that is all.
    @discardableResult
    package func store(_ scan: DatasetScanner.Scan, url: URL, options: DatasetOptions) -> Bool {
        guard scan.problems.isEmpty, !scan.stopped, let reader = scan.reader, let fingerprint = scan.fingerprint,
              // The file must not have changed while it was being read.
              FileIdentity.of(path: url.path) == reader.identity else { return false }
        let header = Header(format: Self.formatVersion, path: Self.canonicalPath(url), file: reader.identity,
                            options: Self.optionsKey(options), builder: Self.builder, sha256: fingerprint.sha256,
                            count: scan.index.count, stats: CachedStats(scan.stats), checksum: "")
        return Contents(header: header, index: scan.index).write(to: entryURL(for: url), directory: directory)
    }

    /// Reads back a sample of indexed lines: each must still sit between line breaks and parse
    /// into an example. Catches an entry that outlived an edit its key could not see.
    package static func spotCheck(_ scan: DatasetScanner.Scan) -> String? {
        guard let reader = scan.reader else { return "no reader" }
        let count = scan.index.count
        guard count > 0 else { return "the entry has no examples" }
        let samples = Set((0..<min(count, spotCheckLines)).map { $0 * (count - 1) / max(1, min(count, spotCheckLines) - 1) })
        for position in samples.sorted() {
            let offset = scan.index.offsets[position], length = Int(scan.index.lengths[position])
            let line = Int(scan.index.lines[position])
            let start = max(0, offset - 1)
            guard let bytes = try? reader.read(at: start, count: length + (offset - start) + 1),
                  bytes.count >= length + (offset - start) else { return "line \(line) is no longer there" }
            let before = offset == 0 || bytes[0] == 0x0A || (line == 1 && offset == 3)
            let afterIndex = length + (offset - start)
            let after = afterIndex == bytes.count || bytes[afterIndex] == 0x0A || bytes[afterIndex] == 0x0D
            guard before, after else { return "line \(line) no longer starts and ends where it did" }
            let text = Array(bytes[(offset - start)..<afterIndex])
            let sink = ProblemSink(file: scan.parser.file, locator: nil, fixedLine: line)
            guard scan.parser.parse(text, line: line, index: position, sink: sink).example != nil else {
                return "line \(line) no longer parses"
            }
        }
        return nil
    }
}

extension Dataset {
    /// Opens a dataset through `cache`: instant when the cache holds a valid entry for it,
    /// otherwise indexed and checked in full (and the entry stored for next time).
    public static func open(_ url: URL, options: DatasetOptions, cache: DatasetIndexCache?) throws(DatasetError) -> Dataset {
        guard let cache else { return try open(url, options: options) }
        let scan = cache.scan(url, options: options).scan
        guard scan.problems.isEmpty, let dataset = Dataset(scan: scan, url: url) else {
            throw DatasetError(problems: scan.problems)
        }
        return dataset
    }
}
