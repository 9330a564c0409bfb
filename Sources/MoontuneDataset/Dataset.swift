import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI

/// A validated dataset file, indexed by byte offset. Memory does not grow with its lines beyond
/// the index (16 bytes per example); each example is read from disk when it is asked for.
public final class Dataset: Sendable {
    public let url: URL
    public let count: Int
    public let fingerprint: DatasetFingerprint
    /// The skills of its examples.
    public let skills: Set<Skill>
    /// Counts per skill, and image formats and sizes when headers were read.
    public let stats: DatasetStats

    private let reader: FileReader
    private let index: LineIndex
    private let parser: ExampleParser

    /// Indexes and checks the whole file. Throws every problem found, each naming its line and
    /// field; a dataset is never half-open.
    public static func open(_ url: URL, options: DatasetOptions) throws(DatasetError) -> Dataset {
        let scan = DatasetScanner(url: url, options: options).scan()
        guard scan.problems.isEmpty, let dataset = Dataset(scan: scan, url: url) else {
            throw DatasetError(problems: scan.problems)
        }
        return dataset
    }

    package init?(scan: DatasetScanner.Scan, url: URL) {
        guard let reader = scan.reader, let fingerprint = scan.fingerprint else { return nil }
        self.url = url
        self.reader = reader
        self.index = scan.index
        self.parser = scan.parser
        self.count = scan.index.count
        self.fingerprint = fingerprint
        self.stats = scan.stats
        self.skills = Set(scan.stats.perSkill.keys)
    }

    /// The example at a 0-based position, read and parsed from its line.
    public func example(at position: Int) throws(DatasetError) -> Example {
        let line = position >= 0 && position < count ? Int(index.lines[position]) : nil
        guard let line else {
            throw DatasetError(Problem(file: parser.file, field: "", message: "no example at index \(position) (the dataset has \(count))"))
        }
        let bytes: [UInt8]
        do {
            bytes = try reader.read(at: index.offsets[position], count: Int(index.lengths[position]))
        } catch {
            throw DatasetError(Problem(file: parser.file, line: line, field: "", message: "cannot read the line: \(error.message)"))
        }
        let sink = ProblemSink(file: parser.file, locator: nil, fixedLine: line)
        guard let example = parser.parse(bytes, line: line, index: position, sink: sink).example else {
            // Only possible when the file was rewritten in place after it was indexed.
            var problems = sink.problems
            problems.append(Problem(file: parser.file, line: line, field: "", message: "the file changed since it was checked; run validate again"))
            throw DatasetError(problems: problems)
        }
        return example
    }
}
