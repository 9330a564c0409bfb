import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneRewards

/// A model `compare` scores: the base model, or a saved checkpoint.
package struct ComparedModel: Sendable, Hashable {
    /// `base` or `step 40`.
    package var label: String
    /// The inference model string; nil asks for the base model.
    package var model: String?
    package var step: Int?

    package static let baseModelName = "moondream3-preview"
    package static let base = ComparedModel(label: "base", model: nil, step: nil)

    package static func checkpoint(finetuneID: String, step: Int) -> ComparedModel {
        ComparedModel(label: "step \(step)", model: inferenceModel(finetuneID: finetuneID, step: step), step: step)
    }

    package var modelName: String { model ?? Self.baseModelName }
}

/// The result of a comparison: rows are models; columns the mean reward per skill, the overall
/// mean and n. Pure, so the marking of the best values is tested without a server.
package struct ComparisonTable: Sendable, Equatable {
    package struct Row: Sendable, Equatable {
        package var model: ComparedModel
        package var perSkill: [String: SkillScore]
        package var overall: Double
        package var n: Int
        /// Each skill's reward with its eval metrics (query accuracy, detect P/R/F1, point
        /// distance and hit rate), as an eval records them; empty when not computed.
        package var metrics: [String: EvalMetricsText.Figures] = [:]
    }

    /// Skill columns, in order.
    package var skills: [String]
    package var rows: [Row]

    /// Builds the table from each model's (skill, reward) scores.
    package init(models: [ComparedModel], scores: [[(skill: Skill, reward: Double)]]) {
        let present = Set(scores.flatMap { $0.map(\.skill) })
        skills = Skill.allCases.filter(present.contains).map(\.rawValue)
        rows = zip(models, scores).map { model, scored in
            var bySkill: [String: [Double]] = [:]
            for (skill, reward) in scored { bySkill[skill.rawValue, default: []].append(reward) }
            let perSkill = bySkill.mapValues { SkillScore(mean: $0.reduce(0, +) / Double($0.count), n: $0.count) }
            let all = scored.map(\.reward)
            return Row(model: model, perSkill: perSkill, overall: all.isEmpty ? 0 : all.reduce(0, +) / Double(all.count), n: all.count)
        }
    }

    /// The same table with each model's per-skill metrics (`metrics[i]` for row i).
    package func with(metrics: [[Skill: EvalSkillMetrics]]) -> ComparisonTable {
        var table = self
        for (index, perSkill) in metrics.enumerated() where table.rows.indices.contains(index) {
            let row = table.rows[index]
            table.rows[index].metrics = Dictionary(uniqueKeysWithValues: perSkill.compactMap { skill, figures in
                row.perSkill[skill.rawValue].map { (skill.rawValue, EvalMetricsText.Figures(mean: $0.mean, count: $0.n, metrics: figures)) }
            })
        }
        return table
    }

    /// Under the table: each model's metrics per skill, a line each.
    package func metricsText() -> String {
        rows.filter { !$0.metrics.isEmpty }.flatMap { row in
            ["\(row.model.label):"] + row.metrics.sorted { $0.key < $1.key }.map { "  \($0.key)  \(EvalMetricsText.text($0.value))" }
        }.joined(separator: "\n")
    }

    package init(skills: [String], rows: [Row]) {
        self.skills = skills
        self.rows = rows
    }

    /// Column names: the skills, then `overall`.
    package var columns: [String] { skills + ["overall"] }

    package func value(_ row: Row, column: String) -> Double? {
        column == "overall" ? (row.n > 0 ? row.overall : nil) : row.perSkill[column]?.mean
    }

    /// For each column, the rows holding its best value (all of them on a tie). Values are
    /// compared at the printed precision, so that two rows that print alike are marked alike.
    package var best: [String: Set<Int>] {
        var result: [String: Set<Int>] = [:]
        for column in columns {
            let values = rows.indices.compactMap { index in value(rows[index], column: column).map { (index, Self.rounded($0)) } }
            guard let top = values.map(\.1).max() else { continue }
            result[column] = Set(values.filter { $0.1 == top }.map(\.0))
        }
        return result
    }

    package static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// The table for a terminal: best values marked with `*`.
    package func text() -> String {
        let best = best
        var lines = [["MODEL"] + columns.map { $0.uppercased() } + ["N"]]
        for (index, row) in rows.enumerated() {
            var cells = [row.model.label]
            for column in columns {
                guard let value = value(row, column: column) else { cells.append("-"); continue }
                cells.append(String(format: "%.3f", value) + (best[column]?.contains(index) == true ? "*" : " "))
            }
            cells.append(String(row.n))
            lines.append(cells)
        }
        let rightAligned = Set(1...(columns.count + 1))
        let metrics = metricsText()
        return PlainTable.render(lines, rightAligned: rightAligned) + "\n* best in its column" + (metrics.isEmpty ? "" : "\n\n" + metrics)
    }

    /// One line per model: label, model, step, each skill, overall, n, and which columns it leads.
    package func csv() -> String {
        let best = best
        var lines = [(["label", "model", "step"] + columns + ["n", "best"]).joined(separator: ",")]
        for (index, row) in rows.enumerated() {
            var cells = [row.model.label, row.model.modelName, row.model.step.map(String.init) ?? ""]
            cells += columns.map { column in value(row, column: column).map { String(format: "%.6f", $0) } ?? "" }
            cells.append(String(row.n))
            cells.append(columns.filter { best[$0]?.contains(index) == true }.joined(separator: " "))
            lines.append(cells.map(PlainTable.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// The JSON document of `--json`.
    package func json(job: String, dataset: String, examples: Int) throws -> String {
        struct Model: Encodable {
            package var label: String; var model: String; var step: Int?; var perSkill: [String: SkillScore]; var overall: Double; var n: Int
            package var best: [String]
            package var metrics: [String: EvalMetricsText.Figures]
            package enum CodingKeys: String, CodingKey { case label, model, step, perSkill = "per_skill", overall, n, best, metrics }
        }
        struct Document: Encodable { var job: String; var dataset: String; var examples: Int; var skills: [String]; var models: [Model] }
        let best = best
        let models = rows.enumerated().map { index, row in
            Model(label: row.model.label, model: row.model.modelName, step: row.model.step, perSkill: row.perSkill,
                  overall: row.overall, n: row.n, best: columns.filter { best[$0]?.contains(index) == true }, metrics: row.metrics)
        }
        return try ManagementJSON.encode(Document(job: job, dataset: dataset, examples: examples, skills: skills, models: models))
    }

    /// The rows as the database records them.
    package var records: [ComparisonResultRecord] {
        rows.enumerated().map { index, row in
            ComparisonResultRecord(position: index, label: row.model.label, model: row.model.modelName, step: row.model.step,
                                   rewardMean: row.overall, count: row.n, perSkill: row.perSkill)
        }
    }
}
