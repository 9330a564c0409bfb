import Foundation
import MoontuneStore

/// The "Did it help?" section of the HTML report: the job's recorded comparisons, newest first,
/// each as a table (rows models; columns the mean reward per skill, overall and n; the best of
/// each column in bold). What one comparison shows, for `ReportTemplate`'s comparisons section.
package enum ComparisonHTML {
    package static func context(_ stored: StoredComparison) -> [String: Any] {
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
}
