import Foundation
import MoontuneStore
import Mustache

/// The "Did it help?" section of the HTML report: the job's recorded comparisons, newest first,
/// each as a table (rows models; columns the mean reward per skill, overall and n; the best of
/// each column in bold). What one comparison shows, for `ReportTemplate`'s comparisons section.
package enum ComparisonHTML {
    package static func context(_ stored: StoredComparison) -> [String: Any] {
        context(stored.comparison, results: stored.results)
    }

    package static func context(_ comparison: ComparisonRecord, results: [ComparisonResultRecord]) -> [String: Any] {
        let stored = (comparison: comparison, results: results)
        let table = ComparisonTable(skills: stored.comparison.skills, rows: stored.results.map { result in
            ComparisonTable.Row(model: ComparedModel(label: result.label, model: result.model, step: result.step),
                                perSkill: result.perSkill, overall: result.rewardMean, n: result.count)
        })
        let best = table.best
        return [
            "date": StatusText.date(stored.comparison.createdAtMs),
            "examples": stored.comparison.examples,
            "dataset": stored.comparison.dataset,
            "columns": table.columns,
            "rows": table.rows.enumerated().map { index, row -> [String: Any] in
                [
                    "modelName": row.model.modelName,
                    "label": row.model.label,
                    "n": row.n,
                    "cells": table.columns.map { column -> [String: Any] in
                        guard let value = table.value(row, column: column) else { return ["text": "-", "best": false] }
                        return ["text": String(format: "%.3f", value), "best": best[column]?.contains(index) == true]
                    },
                ]
            },
        ]
    }

    /// `moontune compare --html FILE`: one self-contained page (no script, no network) with the
    /// comparison's table and the per-example gallery of the first model against the last (the
    /// base model against the finetuned one), the most improved and the most regressed first.
    package static func page(job: String, comparison: ComparisonRecord, results: [ComparisonResultRecord], gallery: EvalGallery?) -> String {
        var values = context(comparison, results: results)
        values["css"] = ReportHTML.css
        values["name"] = job
        if let gallery { values.merge(gallery.context) { $1 } }
        return pageTemplate.render(values)
    }

    static let pageTemplate: MustacheTemplate = {
        do { return try MustacheTemplate(string: pageText) } catch { fatalError("the comparison template does not parse: \(error)") }
    }()

    /// The page: the report's comparison table and its gallery section, as `ReportTemplate` has them.
    static var pageText: String {
        let report = ReportTemplate.page
        func section(_ id: String, open: String, close: String) -> String {
            guard let start = report.range(of: open), let end = report.range(of: close, range: start.upperBound..<report.endIndex) else {
                fatalError("the report template has no \(id) section")
            }
            return String(report[start.lowerBound..<end.upperBound])
        }
        let table = section("comparison table", open: "<table class=\"comparison\">", close: "</table>")
        let gallery = section("gallery", open: "{{#hasGallery}}", close: "{{/hasGallery}}")
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>moontune compare: {{name}}</title>
            <style>{{{css}}}</style>
            </head>
            <body>
            <header>
            <h1>{{name}}: compare</h1>
            <p class="sub">{{date}} · {{examples}} examples of {{dataset}}</p>
            </header>
            <section id="comparison">
            \(table)
            </section>
            \(gallery)
            <footer>moontune compare · this file needs no network.</footer>
            </body>
            </html>

            """
    }
}
