
import Foundation

/// How `export` writes its rows: CSV with a header line (RFC 4180), or JSON Lines.
package enum MetricsFormat: String, CaseIterable, Sendable {
    case csv, jsonl

    /// The first line of the file: the CSV header; nothing for JSON Lines.
    package var header: String? { header(graders: []) }

    /// The header with a `reward_<name>` column per grader (issue 24) after the fixed ones.
    package func header(graders: [String]) -> String? {
        self == .csv ? (MetricsRow.columns + graders.map { "reward_\($0)" }).joined(separator: ",") + "\n" : nil
    }

    /// One row as one line, newline included; `graders` adds their `reward_<name>` cells.
    package func line(_ row: MetricsRow, graders: [String] = []) -> String {
        let cells = row.cells + graders.map { row.graderScores[$0].map(MetricsRow.Cell.number) }
        let columns = MetricsRow.columns + graders.map { "reward_\($0)" }
        switch self {
        case .csv:
            return cells.map { $0.map(Self.csvCell) ?? "" }.joined(separator: ",") + "\n"
        case .jsonl:
            let members = zip(columns, cells).map { name, cell in
                ReportText.jsonString(name) + ":" + (cell.map(Self.jsonCell) ?? "null")
            }
            return "{" + members.joined(separator: ",") + "}\n"
        }
    }

    package static func csvCell(_ cell: MetricsRow.Cell) -> String {
        switch cell {
        case .text(let text):
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        case .int(let value): return String(value)
        case .number(let value): return value.isFinite ? String(value) : ""
        case .bool(let flag): return flag ? "true" : "false"
        }
    }

    package static func jsonCell(_ cell: MetricsRow.Cell) -> String {
        switch cell {
        case .text(let text): return ReportText.jsonString(text)
        case .int(let value): return String(value)
        case .number(let value): return value.isFinite ? String(value) : "null"
        case .bool(let flag): return flag ? "true" : "false"
        }
    }
}
