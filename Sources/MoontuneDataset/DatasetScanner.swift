import MoontuneConfig
import MoontuneJSON
import Crypto
import Foundation
import MoondreamAPI
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request to stop a scan early (a SIGTERM during the first indexing of a large dataset). The
/// scan looks at it between chunks and every `DatasetScanner.stopCheckLines` lines, so it ends
/// within a fraction of a second; a stopped scan is never stored in the index cache.
public final class ScanStop: Sendable {
    private let requested = Atomic(false)

    public init() {}

    public func request() { requested.store(true, ordering: .relaxed) }

    public var isRequested: Bool { requested.load(ordering: .relaxed) }
}

/// One pass over a dataset file: it hashes the bytes, indexes every example's line, checks every
/// line (and every image header, if asked), and gathers statistics. Memory holds the index
/// (16 bytes per example) and one line at a time, never the file.
package struct DatasetScanner {
    package let url: URL
    package let options: DatasetOptions
    package let stop: ScanStop?

    package init(url: URL, options: DatasetOptions, stop: ScanStop? = nil) {
        self.url = url
        self.options = options
        self.stop = stop
    }

    /// What one pass found.
    package struct Scan {
        package var reader: FileReader?
        package var index = LineIndex()
        package var parser: ExampleParser
        package var fingerprint: DatasetFingerprint?
        package var stats = DatasetStats()
        package var problems: [Problem] = []
        package var skippedProblems = 0
        /// The scan ended early at a `ScanStop`: its index and stats are partial, and `problems`
        /// says so (a stopped scan is never valid).
        package var stopped = false
    }

    package static let chunkSize = 1 << 20
    /// How often, in lines, a scan looks at its `ScanStop` within a chunk.
    package static let stopCheckLines = 4096
    package static let headerCacheLimit = 4096

    /// Runs two pieces of work over disjoint state at once, on two cores, and returns when both
    /// are done. (Dispatch's pool, not the cooperative one; the calling thread takes one part.)
    private static func runBoth(_ first: () -> Void, _ second: () -> Void) {
        withoutActuallyEscaping(first) { first in
            withoutActuallyEscaping(second) { second in
                let parts = TwoParts(first: first, second: second)
                DispatchQueue.concurrentPerform(iterations: 2) { part in
                    if part == 0 { parts.first() } else { parts.second() }
                }
            }
        }
    }

    /// @unchecked: the two closures touch disjoint state, and `concurrentPerform` returns only
    /// after both have run, so nothing they capture is shared or outlives the call.
    private struct TwoParts: @unchecked Sendable {
        let first: () -> Void
        let second: () -> Void
    }

    package func scan() -> Scan {
        let file = displayPath(url)
        let images = ImageLocator(datasetURL: url, maxBytes: options.maxImageBytes, allowOutside: options.allowAbsolutePaths)
        var scan = Scan(parser: ExampleParser(file: file, images: images, queryMatch: options.queryMatch))
        let reader: FileReader
        do {
            reader = try FileReader(path: url.path)
        } catch {
            scan.problems.append(Problem(file: file, field: "", message: "cannot read the dataset: \(error.message)"))
            return scan
        }
        scan.reader = reader

        var state = LineState(scanner: self, scan: scan, images: images)
        var hash = SHA256()
        // Two chunks in turn: while one core parses a chunk's lines, the other hashes that chunk
        // and reads the next one. The lines are still parsed in order by one worker, so the index,
        // the problems and the stats are exactly those of a sequential pass.
        let buffers = [UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16),
                       UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)]
        defer { for buffer in buffers { buffer.deallocate() } }
        var offset = 0
        do {
            var current = 0
            var count = try reader.read(at: 0, into: buffers[current])
            while count > 0 {
                if stop?.isRequested == true {
                    state.scan.stopped = true
                    break
                }
                let bytes = UnsafeRawBufferPointer(rebasing: buffers[current][0..<count])
                let next = buffers[1 - current]
                let nextOffset = offset + count
                var nextCount: Result<Int, any Error> = .success(0)
                Self.runBoth({
                    hash.update(bufferPointer: bytes)
                    nextCount = Result { try reader.read(at: nextOffset, into: next) }
                }, {
                    state.consume(bytes, at: offset)
                })
                offset = nextOffset
                count = try nextCount.get()
                current = 1 - current
            }
        } catch {
            let reason = (error as? FileReadError)?.message ?? "\(error)"
            state.scan.problems.append(Problem(file: file, field: "", message: "cannot read the dataset: \(reason)"))
            return state.scan
        }
        if state.scan.stopped {
            // Nothing partial goes on: no duplicate check or fingerprint of half a file.
            state.scan.problems.append(Problem(file: file, field: "", message: "the scan was stopped at byte \(offset) (a stop was asked for)"))
            return state.scan
        }
        state.finish()
        var hashes = state.idHashes
        state.idHashes = []
        scan = state.scan
        scan.fingerprint = DatasetFingerprint(byteCount: offset, modifiedMs: reader.modifiedMs, sha256: hash.finalize().hexString)
        if scan.index.count == 0, scan.problems.isEmpty {
            scan.problems.append(Problem(file: file, field: "", message: "the dataset is empty (no examples)"))
        }
        DuplicateIDs.report(in: &scan, hashes: &hashes)
        if scan.skippedProblems > 0 {
            scan.problems.append(Problem(file: file, field: "", message: "\(scan.skippedProblems) more problems not shown"))
        }
        return scan
    }
}

/// Example id → byte range of its line, as flat arrays.
package struct LineIndex: Sendable {
    package private(set) var offsets: [Int] = []
    package private(set) var lengths: [UInt32] = []
    package private(set) var lines: [UInt32] = []

    package var count: Int { offsets.count }

    package mutating func append(offset: Int, length: Int, line: Int) {
        offsets.append(offset)
        lengths.append(UInt32(length))
        lines.append(UInt32(line))
    }
}

extension LineIndex {
    /// An index read back from `DatasetIndexCache`: one entry per example in each array.
    package init?(cachedOffsets offsets: [Int], lengths: [UInt32], lines: [UInt32]) {
        guard offsets.count == lengths.count, lengths.count == lines.count else { return nil }
        self.offsets = offsets
        self.lengths = lengths
        self.lines = lines
    }
}

/// The per-line work of a scan, fed chunk by chunk.
private struct LineState {
    package let scanner: DatasetScanner
    package var scan: DatasetScanner.Scan
    package let images: ImageLocator
    package var idHashes: [(hash: UInt64, index: UInt32)] = []
    private var carry: [UInt8] = []
    private var carryStart = 0
    private var tooLong = false
    private var lineNumber = 0
    private var headerCache: [String: Result<ImageInfo, ImageHeaderError>] = [:]
    /// The scan's parser with a locator that remembers real paths for this pass only (the
    /// dataset keeps `scan.parser`, which checks each image anew when a run reads it).
    private let parser: ExampleParser

    package init(scanner: DatasetScanner, scan: DatasetScanner.Scan, images: ImageLocator) {
        self.scanner = scanner
        self.scan = scan
        self.images = images
        parser = scan.parser.with(images: images.cachingLinks())
    }

    package mutating func consume(_ chunk: UnsafeRawBufferPointer, at chunkOffset: Int) {
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            if lineNumber % DatasetScanner.stopCheckLines == 0, scanner.stop?.isRequested == true {
                scan.stopped = true
                return
            }
            guard let found = memchr(base + start, 0x0A, chunk.count - start) else {
                append(UnsafeRawBufferPointer(rebasing: chunk[start...]), at: chunkOffset + start)
                return
            }
            let end = base.distance(to: UnsafeRawPointer(found))
            append(UnsafeRawBufferPointer(rebasing: chunk[start..<end]), at: chunkOffset + start)
            endLine()
            start = end + 1
        }
    }

    package mutating func finish() {
        if !carry.isEmpty || tooLong { endLine() }
    }

    private mutating func append(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        if carry.isEmpty && !tooLong { carryStart = offset }
        guard !tooLong else { return }
        if carry.count + bytes.count > scanner.options.maxLineBytes {
            tooLong = true
            carry = []
            return
        }
        carry.append(contentsOf: bytes)
    }

    private mutating func endLine() {
        lineNumber += 1
        defer {
            carry.removeAll(keepingCapacity: carry.count < 1 << 16)
            tooLong = false
        }
        if tooLong {
            add(Problem(file: scan.parser.file, line: lineNumber, field: "",
                        message: "line is longer than \(scanner.options.maxLineBytes) bytes"))
            return
        }
        var start = 0
        var length = carry.count
        if lineNumber == 1, carry.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        if length > start, carry[length - 1] == 0x0D { length -= 1 }
        guard carry[start..<length].contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }

        let bytes = Array(carry[start..<length])
        let sink = ProblemSink(file: scan.parser.file, locator: nil, fixedLine: lineNumber)
        let index = scan.index.count
        let parsed = parser.parse(bytes, line: lineNumber, index: index, sink: sink)
        sink.problems.forEach { add($0) }
        var imageIsFine = true
        if scanner.options.readImageHeaders, let image = parsed.image {
            imageIsFine = checkImage(image, line: lineNumber)
        }
        guard let example = parsed.example, imageIsFine else { return }
        scan.index.append(offset: carryStart + start, length: length - start, line: lineNumber)
        scan.stats.examples += 1
        scan.stats.perSkill[example.skill, default: 0] += 1
        idHashes.append((DuplicateIDs.hash(example.id), UInt32(index)))
    }

    /// Reads the image's header (once per path while the cache holds it); false on a problem.
    private mutating func checkImage(_ url: URL, line: Int) -> Bool {
        let result: Result<ImageInfo, ImageHeaderError>
        if let cached = headerCache[url.path] {
            result = cached
        } else {
            result = images.probe(url)
            if headerCache.count >= DatasetScanner.headerCacheLimit { headerCache.removeAll(keepingCapacity: true) }
            headerCache[url.path] = result
        }
        switch result {
        case .success(let info):
            scan.stats.add(info)
            return true
        case .failure(let error):
            add(Problem(file: scan.parser.file, line: line, field: "image", message: error.message))
            return false
        }
    }

    private mutating func add(_ problem: Problem) {
        if scan.problems.count < scanner.options.maxProblems {
            scan.problems.append(problem)
        } else {
            scan.skippedProblems += 1
        }
    }
}
