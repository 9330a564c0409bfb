import Foundation
import MoontuneStore

/// Everything the HTML report shows, read from the database beforehand.
package struct ReportData: Sendable {
    package var report: JobStatusReport
    /// The job's recorded config snapshot (JSON); it names the key's variable, never the key.
    package var configJSON: String
    package var series: [StepPoint]
    package var evals: [EvalRecord]
    package var generatedAtMs: Int64
    /// `moontune compare` results, newest first.
    package var comparisons: [StoredComparison] = []

    package init(report: JobStatusReport, configJSON: String, series: [StepPoint], evals: [EvalRecord], generatedAtMs: Int64,
                 comparisons: [StoredComparison] = []) {
        self.report = report
        self.configJSON = configJSON
        self.series = series
        self.evals = evals
        self.generatedAtMs = generatedAtMs
        self.comparisons = comparisons
    }
}

/// `moontune report`: one self-contained HTML file (inline CSS, inline SVG, no script, no
/// network) with the job's header, its charts, its checkpoints and its config. The markup is
/// well-formed XML as well as HTML, so any parser reads it.
package enum ReportHTML {
    package static let colors = (mean: "#2563eb", eval: "#4f46e5", constant: "#d97706", time: "#7c3aed")
    package static let skillColors = ["point": "#db2777", "detect": "#0891b2", "query": "#65a30d"]

    package static func render(_ data: ReportData) -> String {
        let report = data.report
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>moontune report: \(e(report.name))</title>
            <style>\(css)</style>
            </head>
            <body>
            <header>
            <h1>\(e(report.name)) <span class="state state-\(e(report.state))">\(e(report.state))</span></h1>
            <p class="sub">step \(report.step) of \(report.totalSteps) · finetune <code>\(e(report.finetuneID ?? "-"))</code> · \
            report generated \(e(StatusText.date(data.generatedAtMs)))</p>
            </header>

            """
        if !report.warnings.isEmpty {
            html += "<section id=\"warnings\">\n<h2>Warnings</h2>\n<ul class=\"warnings\">\n"
                + report.warnings.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n</section>\n"
        }
        html += summary(data)
        html += "<section id=\"charts\">\n<h2>Charts</h2>\n<div class=\"charts\">\n"
        for chart in charts(data) {
            html += "<figure>\n\(chart.render())\n</figure>\n"
        }
        html += "</div>\n</section>\n"
        html += checkpoints(report)
        html += ComparisonHTML.section(data.comparisons)
        html += "<section id=\"config\">\n<h2>Config</h2>\n<p class=\"sub\">\(e(report.configPath))</p>\n<pre>"
            + e(prettyJSON(data.configJSON)) + "</pre>\n</section>\n"
        html += "<footer>moontune · read from the state database only; this file needs no network.</footer>\n</body>\n</html>\n"
        return html
    }

    package static func summary(_ data: ReportData) -> String {
        let report = data.report
        let bestEval = data.evals.max { $0.rewardMean < $1.rewardMean }
        var rows: [(String, String)] = [
            ("State", report.state + (report.pid.map { " (\(report.state == "running" ? "" : "last run: ")pid \($0) on \(report.host ?? "-"))" } ?? "")),
            ("API", report.baseURL),
            ("Created", StatusText.date(report.createdAtMs)),
            ("Last started", report.startedAtMs.map(StatusText.date) ?? "-"),
            ("Last step reward", report.rewardMean.map { String(format: "%.3f", $0) + (report.rewardStd.map { String(format: " ± %.3f", $0) } ?? "") } ?? "-"),
            ("Last eval", report.lastEval.map { String(format: "%.3f at step %d (n=%d)", $0.rewardMean, $0.step, $0.n) } ?? "-"),
            ("Best eval", bestEval.map { String(format: "%.3f at step %d", $0.rewardMean, $0.step) } ?? "-"),
            ("Steps per minute", report.stepsPerMinute.map { String(format: "%.1f", $0) } ?? "-"),
            ("Retries", String(report.retries)),
            ("Reconciliations", String(report.reconciliations)),
            ("Server step", report.serverStep.map(String.init) ?? "-"),
        ]
        if let train = report.lastTrain, !train.numbers.isEmpty {
            rows.append(("Last train_step answer", "step \(train.step): "
                + train.numbers.named.map { String(format: "%@ %.4g", $0.0, $0.1) }.joined(separator: ", ")))
        }
        if let error = report.lastError { rows.append(("Last error", error)) }
        var html = "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"summary\">\n"
        for (label, value) in rows {
            html += "<tr><th>\(e(label))</th><td>\(e(value))</td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    /// Reward mean ± std, eval reward (overall and per skill), constant-group fraction, step time.
    package static func charts(_ data: ReportData) -> [SVGChart] {
        let series = data.series
        let means = series.compactMap { point in point.rewardMean.map { SVGChart.Point(x: Double(point.k), y: $0) } }
        let band = series.compactMap { point -> SVGChart.Band? in
            guard let mean = point.rewardMean, let std = point.rewardStd else { return nil }
            return SVGChart.Band(x: Double(point.k), low: mean - std, high: mean + std)
        }
        var evalSeries = [SVGChart.Series(name: "all", color: colors.eval,
                                          points: data.evals.map { SVGChart.Point(x: Double($0.step), y: $0.rewardMean) }, markers: true)]
        var bySkill: [String: [SVGChart.Point]] = [:]
        for eval in data.evals {
            guard let skills = try? JSONDecoder().decode([String: MetricsRow.Summary].self, from: Data(eval.perSkillJSON.utf8)) else { continue }
            for (skill, summary) in skills { bySkill[skill, default: []].append(SVGChart.Point(x: Double(eval.step), y: summary.mean)) }
        }
        if bySkill.count > 1 {
            for (skill, points) in bySkill.sorted(by: { $0.key < $1.key }) {
                evalSeries.append(SVGChart.Series(name: skill, color: skillColors[skill] ?? "#6b7280", points: points))
            }
        }
        // Rewards are usually in 0...1 and drawn so (the ± std band is clipped to it); a custom
        // reward program's wider range gets an axis fitted to its data.
        let unitRange: ClosedRange<Double>? = (means.map(\.y) + data.evals.map(\.rewardMean)).allSatisfy { (0...1).contains($0) } ? 0...1 : nil
        return [
            SVGChart(title: "Reward per step: mean ± std", xLabel: "step", yLabel: "reward", yRange: unitRange,
                     series: [SVGChart.Series(name: "mean", color: colors.mean, points: means, band: band)]),
            SVGChart(title: "Eval reward", xLabel: "step", yLabel: "reward", yRange: unitRange, series: evalSeries),
            SVGChart(title: "Fraction of constant groups (no learning signal)", xLabel: "step", yLabel: "fraction", yRange: 0...1,
                     series: [SVGChart.Series(name: "constant", color: colors.constant,
                                              points: series.compactMap { p in p.constantGroupFraction.map { SVGChart.Point(x: Double(p.k), y: $0) } })]),
            SVGChart(title: "Step time", xLabel: "step", yLabel: "seconds", yRange: nil,
                     series: [SVGChart.Series(name: "wall", color: colors.time,
                                              points: series.compactMap { p in p.wallMs.map { SVGChart.Point(x: Double(p.k), y: $0 / 1000) } })]),
        ]
    }

    package static func checkpoints(_ report: JobStatusReport) -> String {
        var html = "<section id=\"checkpoints\">\n<h2>Checkpoints</h2>\n"
        guard !report.checkpoints.isEmpty else { return html + "<p>No checkpoint saved yet.</p>\n</section>\n" }
        html += "<p class=\"sub\">Pass a saved checkpoint's model string as <code>model</code> to /v1/query, /v1/point, /v1/detect or /v1/caption.</p>\n"
        html += "<table class=\"checkpoints\">\n<tr><th>step</th><th>kind</th><th>state</th><th>saved</th><th>expires</th><th>model</th></tr>\n"
        for checkpoint in report.checkpoints {
            html += "<tr class=\"\(e(checkpoint.state))\"><td>\(checkpoint.step)</td><td>\(e(checkpoint.kind))</td><td>\(e(checkpoint.state))</td>"
                + "<td>\(e(StatusText.date(checkpoint.savedAtMs)))</td><td>\(e(checkpoint.expiresAtMs.map(StatusText.date) ?? "-"))</td>"
                + "<td><code>\(e(checkpoint.model))</code></td></tr>\n"
        }
        return html + "</table>\n</section>\n"
    }

    package static func prettyJSON(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }

    package static func e(_ text: String) -> String { HTMLText.escape(text) }

    package static let css = """
        :root { color-scheme: light dark; --fg: #1f2937; --muted: #6b7280; --bg: #ffffff; --panel: #f9fafb; --line: #e5e7eb; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e5e7eb; --muted: #9ca3af; --bg: #111827; --panel: #1f2937; --line: #374151; } }
        body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg);
               max-width: 1100px; margin: 0 auto; padding: 24px; }
        h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 28px 0 8px; }
        .sub { color: var(--muted); margin: 0 0 8px; }
        code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        pre { background: var(--panel); border: 1px solid var(--line); padding: 12px; overflow-x: auto; }
        table { border-collapse: collapse; } th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
        table.summary th { color: var(--muted); font-weight: normal; white-space: nowrap; }
        table.summary td { white-space: pre-wrap; }
        tr.deleted td, tr.deleting td { color: var(--muted); text-decoration: line-through; }
        .state { font-size: 0.55em; vertical-align: middle; padding: 2px 8px; border-radius: 10px; background: var(--panel); border: 1px solid var(--line); }
        .state-completed { color: #059669; } .state-running { color: #2563eb; } .state-failed, .state-interrupted { color: #dc2626; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
        figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 4px; }
        svg.chart { width: 100%; height: auto; display: block; }
        svg .grid line { stroke: var(--line); stroke-width: 1; }
        svg .frame { fill: none; stroke: var(--muted); stroke-width: 1; }
        svg text { fill: var(--muted); font-size: 11px; font-family: system-ui, sans-serif; }
        svg text.chart-title { fill: var(--fg); font-size: 13px; font-weight: 600; }
        svg text.legend { font-size: 12px; font-weight: 600; }
        svg text.empty { font-size: 14px; }
        svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
        svg .band { opacity: 0.18; stroke: none; }
        footer { color: var(--muted); font-size: 12px; margin-top: 32px; }
        """
}
