import Foundation
import MoontuneStore
import Mustache

/// `moontune sweep report` (issue 25): one self-contained page (inline CSS and SVG, images as
/// `data:` URLs, no script, no network): the metric over steps for every variant on one chart
/// (pruned ones marked), the ranked table, and the best variant's model string and eval gallery.
/// The same template engine, stylesheet and gallery markup as the job report (`ReportHTML`).
package enum SweepReportHTML {
    /// Distinct line colors, reused in turn.
    static let palette = ["#2563eb", "#db2777", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#65a30d", "#4f46e5", "#0d9488"]

    package static func render(_ report: SweepStatusReport, gallery: EvalGallery?, generatedAtMs: Int64) -> String {
        var values: [String: Any] = [
            "css": ReportHTML.css + extraCSS,
            "sweep": report.sweep,
            "metric": report.metric,
            "generated": StatusText.date(generatedAtMs),
            "pruneText": report.prune.map { "ASHA at steps \($0.rungs.map(String.init).joined(separator: ", ")), keeping the top \($0.keep)" }
                ?? "no pruning",
            "spent": String(report.rolloutsSpent),
            "saved": String(report.rolloutsSaved),
            "chart": chart(report).render(),
            "rows": report.jobs.enumerated().map { index, job -> [String: Any] in
                ["rank": index + 1, "name": job.name, "params": job.params.map { "\($0.key) = \($0.json)" }.joined(separator: ", "),
                 "state": job.state, "stopText": job.stopReason.map { " (\($0))" } ?? "", "step": "\(job.step) / \(job.totalSteps)",
                 "best": job.best.map { String(format: "%.4f", $0.value) } ?? "-", "bestStep": job.best.map { String($0.step) } ?? "-",
                 "model": job.model ?? "-", "pruned": job.prunedAt != nil, "prunedAt": job.prunedAt.map(String.init) ?? ""]
            },
            "hasBest": report.best != nil,
        ]
        if let best = report.best {
            values["bestName"] = best.name
            values["bestModel"] = best.model ?? "no checkpoint with an eval yet"
            values["bestValue"] = best.best.map { String(format: "%.4f at step %d", $0.value, $0.step) } ?? "-"
            values["bestParams"] = best.params.map { "\($0.key) = \($0.json)" }.joined(separator: ", ")
        }
        if let gallery { values.merge(gallery.context) { $1 } }
        return page.render(values)
    }

    /// Every variant's metric over its eval steps; a pruned one dashed in the legend's name and
    /// marked at each eval.
    static func chart(_ report: SweepStatusReport) -> SVGChart {
        let ordered = report.jobs.sorted { $0.position < $1.position }
        let series = ordered.enumerated().map { index, job in
            SVGChart.Series(name: job.name + (job.prunedAt.map { " ✂\($0)" } ?? ""), color: palette[index % palette.count],
                            points: job.series.map { SVGChart.Point(x: Double($0.step), y: $0.value) }, markers: true)
        }
        var chart = SVGChart(title: "\(report.metric) by step (✂N: pruned at rung N)", xLabel: "step", yLabel: report.metric, series: series)
        chart.width = 960
        chart.height = 320
        return chart
    }

    static let extraCSS = """
        table.ranking td:nth-child(2), table.ranking td:nth-child(8), table.ranking td.variant-state { white-space: nowrap; }
        table.ranking code { font-size: 0.85em; }
        tr.pruned td { color: #6b7280; }
        tr.pruned td.variant-state { text-decoration: line-through; }
        .best-model { font-size: 1.1em; padding: 8px 12px; background: #eef2ff; display: inline-block; border-radius: 6px; }
        """

    /// The job report's gallery section, reused as it is.
    static let gallerySection: String = {
        let page = ReportTemplate.page
        guard let start = page.range(of: "{{#hasGallery}}"), let end = page.range(of: "{{/hasGallery}}") else { return "" }
        return String(page[start.lowerBound..<end.upperBound])
    }()

    static let template = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>moontune sweep: {{sweep}}</title>
        <style>{{{css}}}</style>
        </head>
        <body>
        <header>
        <h1>sweep {{sweep}}</h1>
        <p class="sub">metric <code>{{metric}}</code> (higher is better) · {{pruneText}} · report generated {{generated}}</p>
        </header>
        <section id="winner">
        <h2>Best variant</h2>
        {{#hasBest}}
        <p><strong>{{bestName}}</strong> ({{bestParams}}): {{bestValue}}</p>
        <p>Model: <code class="best-model">{{bestModel}}</code></p>
        <p class="sub">Pass it as <code>model</code> to /v1/query, /v1/point, /v1/detect or /v1/caption.</p>
        {{/hasBest}}
        {{^hasBest}}
        <p>No variant has an eval after step 0 yet.</p>
        {{/hasBest}}
        <p class="sub">The sweep spent {{spent}} rollouts; pruning saved about {{saved}}.</p>
        </section>
        <section id="charts">
        <div class="chart-box">
        {{{chart}}}
        </div>
        </section>
        <section id="ranking">
        <h2>Variants, best first</h2>
        <table class="ranking">
        <tr><th>#</th><th>job</th><th>params</th><th>state</th><th>step</th><th>best</th><th>at step</th><th>model</th></tr>
        {{#rows}}
        <tr class="{{#pruned}}pruned{{/pruned}}" data-job="{{name}}"><td>{{rank}}</td><td>{{name}}</td><td>{{params}}</td><td class="variant-state">{{state}}{{stopText}}</td><td>{{step}}</td><td>{{best}}</td><td>{{bestStep}}</td><td><code>{{model}}</code></td></tr>
        {{/rows}}
        </table>
        </section>

        """ + gallerySection + """

        </body>
        </html>
        """

    static let page: MustacheTemplate = {
        do { return try MustacheTemplate(string: template) } catch { fatalError("the sweep report template does not parse: \(error)") }
    }()
}
