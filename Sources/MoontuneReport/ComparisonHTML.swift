import MoontuneStore

/// The "Did it help?" section of the HTML report: the job's recorded comparisons, newest first,
/// each as a table (rows models; columns the mean reward per skill, overall and n; the best of
/// each column in bold). Well-formed XML as well as HTML, like the rest of the report.
package enum ComparisonHTML {
    /// An empty string when the job has no recorded comparison.
    package static func section(_ comparisons: [StoredComparison]) -> String {
        guard !comparisons.isEmpty else { return "" }
        var html = "<section id=\"comparisons\">\n<h2>Comparisons</h2>\n"
        for stored in comparisons {
            html += table(stored)
        }
        return html + "</section>\n"
    }

    package static func table(_ stored: StoredComparison) -> String {
        let skills = stored.comparison.skills
        let table = ComparisonTable(skills: skills, rows: stored.results.map { result in
            ComparisonTable.Row(model: ComparedModel(label: result.label, model: result.model, step: result.step),
                                perSkill: result.perSkill, overall: result.rewardMean, n: result.count)
        })
        let best = table.best
        var html = "<p class=\"sub\">\(escape(StatusText.date(stored.comparison.createdAtMs))) · "
            + "\(stored.comparison.examples) examples of \(escape(stored.comparison.dataset))</p>\n"
        html += "<table class=\"comparison\">\n<tr><th>model</th>"
        html += table.columns.map { "<th>\(escape($0))</th>" }.joined() + "<th>n</th></tr>\n"
        for (index, row) in table.rows.enumerated() {
            html += "<tr><td title=\"\(escape(row.model.modelName))\">\(escape(row.model.label))</td>"
            for column in table.columns {
                guard let value = table.value(row, column: column) else {
                    html += "<td>-</td>"
                    continue
                }
                let text = String(format: "%.3f", value)
                html += best[column]?.contains(index) == true ? "<td><strong>\(text)</strong></td>" : "<td>\(text)</td>"
            }
            html += "<td>\(row.n)</td></tr>\n"
        }
        return html + "</table>\n"
    }

    package static func escape(_ text: String) -> String { HTMLText.escape(text) }
}
