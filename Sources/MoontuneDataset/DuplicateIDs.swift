import MoontuneConfig
import MoontuneJSON

/// Finds examples that share an id without holding every id in memory: ids are kept as 64-bit
/// hashes while scanning, and equal hashes are confirmed by reading the lines again.
package enum DuplicateIDs {
    /// FNV-1a, stable across runs (Swift's `Hasher` is seeded per process).
    package static func hash(_ id: String) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01B3
        }
        return value
    }

    /// Sorts `hashes` in place (no second copy of a million entries) and reports duplicates.
    package static func report(in scan: inout DatasetScanner.Scan, hashes sorted: inout [(hash: UInt64, index: UInt32)]) {
        guard sorted.count > 1, let reader = scan.reader else { return }
        sorted.sort { ($0.hash, $0.index) < ($1.hash, $1.index) }
        var runStart = 0
        while runStart < sorted.count {
            var runEnd = runStart + 1
            while runEnd < sorted.count, sorted[runEnd].hash == sorted[runStart].hash { runEnd += 1 }
            if runEnd - runStart > 1 {
                confirm(sorted[runStart..<runEnd].map { Int($0.index) }, reader: reader, scan: &scan)
            }
            runStart = runEnd
        }
        scan.problems = scan.problems.sortedByLine()
    }

    /// Reports every example of `indices` (in file order) whose id an earlier one already used.
    private static func confirm(_ indices: [Int], reader: FileReader, scan: inout DatasetScanner.Scan) {
        var firstLine: [String: Int] = [:]
        for index in indices {
            let line = Int(scan.index.lines[index])
            guard let bytes = try? reader.read(at: scan.index.offsets[index], count: Int(scan.index.lengths[index])),
                  let id = id(in: bytes, line: line) else { continue }
            if let first = firstLine[id] {
                let problem = Problem(file: scan.parser.file, line: line, field: "id",
                                      message: "duplicate id \"\(id)\" (first used on line \(first))")
                if scan.problems.count < 100_000 { scan.problems.append(problem) } else { scan.skippedProblems += 1 }
            } else {
                firstLine[id] = line
            }
        }
    }

    /// The id of an already validated line, as `ExampleParser` reads it.
    private static func id(in bytes: [UInt8], line: Int) -> String? {
        guard let root = try? JSONParser.parse(bytes, allowNonFinite: true) else { return nil }
        switch root["id"]?.value {
        case .string(let text)?: return text
        case .number(let number)?: return number.literal
        default: return String(line)
        }
    }
}
