import Foundation
import MoontuneStore

/// `moontune export NAME --examples`: one row per eval example per eval, in step order, then
/// eval-set order. CSV carries the prediction and the truth as JSON text in one cell each; JSON
/// Lines carries them as JSON values (null when the rollout had no output of the skill's shape).
package enum EvalExamplesExport {
    package static let columns = ["step", "example_id", "position", "line", "skill", "reward", "prediction", "truth", "image"]

    /// The header line (CSV only).
    package static func header(_ format: MetricsFormat) -> String? {
        format == .csv ? columns.joined(separator: ",") + "\n" : nil
    }

    /// One row as one line, newline included.
    package static func line(_ record: EvalExampleRecord, format: MetricsFormat) -> String {
        switch format {
        case .csv:
            let cells: [MetricsRow.Cell?] = [
                .int(Int64(record.step)), .text(record.exampleID), .int(Int64(record.position)), .int(Int64(record.line)),
                .text(record.skill), .number(record.reward), record.predictionJSON.map(MetricsRow.Cell.text), .text(record.truthJSON),
                record.imagePath.map(MetricsRow.Cell.text),
            ]
            return cells.map { $0.map(MetricsFormat.csvCell) ?? "" }.joined(separator: ",") + "\n"
        case .jsonl:
            let values: [String] = [
                String(record.step), ReportText.jsonString(record.exampleID), String(record.position), String(record.line),
                ReportText.jsonString(record.skill), MetricsFormat.jsonCell(.number(record.reward)),
                record.predictionJSON ?? "null", record.truthJSON, record.imagePath.map(ReportText.jsonString) ?? "null",
            ]
            return "{" + zip(columns, values).map { ReportText.jsonString($0) + ":" + $1 }.joined(separator: ",") + "}\n"
        }
    }

    /// Streams every eval's examples, one eval read at a time; returns the rows written.
    package static func write(jobID: Int64, store: ProgressStore, format: MetricsFormat,
                              to emit: (String) -> Void) async throws -> Int {
        if let header = header(format) { emit(header) }
        var rows = 0
        for eval in try await store.evals(jobID: jobID) {
            let examples = try await store.evalExamples(jobID: jobID, step: eval.step)
            emit(examples.map { line($0, format: format) }.joined())
            rows += examples.count
        }
        return rows
    }
}
