import Foundation
import MoontuneStore
import Mustache

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
    /// The lr sent with each applied step that recorded one (the lr chart; none: no chart).
    package var lrSeries: [(step: Int, lr: Double)] = []
    /// The eval examples at the first and the latest eval, drawn (nil: no eval examples recorded).
    package var gallery: EvalGallery?
    /// The latest eval's metrics per skill, from its `per_skill` summary.
    package var evalMetrics: [(skill: String, text: String)] {
        guard let last = evals.last else { return [] }
        return EvalMetricsText.lines(perSkillJSON: last.perSkillJSON)
    }

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
///
/// The page is a Mustache template (swift-mustache): every `{{value}}` is HTML-escaped by the
/// engine, so no text reaches the page unescaped by accident. The only raw insertions are the
/// stylesheet (a constant) and the charts (`{{{svg}}}`), which `SVGChart` builds itself: a chart
/// is a few hundred coordinates, and drawing them as strings is measured fast (4 charts of
/// thousands of points thinned to at most 400 each) and needs no dependency; its text (titles,
/// labels, series names) is escaped there with `HTMLText`, the same escaping as the template's.
package enum ReportHTML {
    package static let colors = (mean: "#2563eb", eval: "#4f46e5", constant: "#d97706", time: "#7c3aed", lr: "#0d9488")
    package static let skillColors = ["point": "#db2777", "detect": "#0891b2", "query": "#65a30d"]

    package static func render(_ data: ReportData) -> String {
        var values = context(data)
        if let gallery = data.gallery { values.merge(gallery.context) { $1 } }
        return page.render(values)
    }

    /// Parsed once; the template is a constant, so a parse error is a programming error caught by
    /// every report test.
    static let page: MustacheTemplate = {
        do { return try MustacheTemplate(string: ReportTemplate.page) } catch { fatalError("the report template does not parse: \(error)") }
    }()

    /// What the template shows, as plain values (the engine escapes them).
    static func context(_ data: ReportData) -> [String: Any] {
        let report = data.report
        return [
            "css": css,
            "name": report.name,
            "state": report.state,
            "step": report.step,
            "totalSteps": report.totalSteps,
            "finetune": report.finetuneID ?? "-",
            "generated": StatusText.date(data.generatedAtMs),
            "hasWarnings": !report.warnings.isEmpty,
            "warnings": report.warnings,
            "summary": summary(data).map { ["label": $0.0, "value": $0.1] },
            "charts": charts(data).map { ["svg": $0.render()] },
            "hasEvalMetrics": !data.evalMetrics.isEmpty,
            "evalMetricsStep": data.evals.last?.step ?? 0,
            "evalMetrics": data.evalMetrics.map { ["skill": $0.skill, "text": $0.text] },
            "hasCheckpoints": !report.checkpoints.isEmpty,
            "checkpoints": report.checkpoints.map { checkpoint -> [String: Any] in
                ["state": checkpoint.state, "step": checkpoint.step, "kind": checkpoint.kind,
                 "saved": StatusText.date(checkpoint.savedAtMs), "expires": checkpoint.expiresAtMs.map(StatusText.date) ?? "-",
                 "model": checkpoint.model]
            },
            "hasComparisons": !data.comparisons.isEmpty,
            "comparisons": data.comparisons.map(ComparisonHTML.context),
            "configPath": report.configPath,
            "config": prettyJSON(data.configJSON),
        ]
    }

    /// The summary table's rows: label and value.
    package static func summary(_ data: ReportData) -> [(String, String)] {
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
        switch report.stopReason {
        case "early_stop": rows.append(("Ended", "early stop: the eval reward stopped improving; the best checkpoint is kept"))
        case "budget": rows.append(("Ended", "stopped by its budget; a larger budget continues it"))
        case "signal": rows.append(("Ended", "stopped by a signal"))
        case "pruned": rows.append(("Ended", "pruned by its sweep at a rung; the best checkpoint is kept"))
        default: break
        }
        if let budget = report.budget { rows.append(("Budget", budget.line)) }
        if let signal = report.groupSignal { rows.append(("Groups without signal", signal.line)) }
        if let graders = report.graders, !graders.isEmpty {  // issue 24
            rows.append(("Graders (last step mean)", graders.sorted { $0.key < $1.key }
                .map { "\($0.key) " + String(format: "%.3f", $0.value) }.joined(separator: ", ")))
        }
        if let graders = report.lastEval?.graders, !graders.isEmpty {
            rows.append(("Graders (last eval mean)", graders.sorted { $0.key < $1.key }
                .map { "\($0.key) " + String(format: "%.3f", $0.value) }.joined(separator: ", ")))
        }
        if let error = report.lastError { rows.append(("Last error", error)) }
        return rows
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
        var charts = [
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
        // The lr schedule, beside the reward chart, for jobs whose steps recorded their lr.
        if !data.lrSeries.isEmpty {
            charts.insert(SVGChart(title: "Learning rate", xLabel: "step", yLabel: "lr", yRange: nil,
                                   series: [SVGChart.Series(name: "lr", color: colors.lr,
                                                            points: data.lrSeries.map { SVGChart.Point(x: Double($0.step), y: $0.lr) })]),
                          at: 1)
        }
        return charts
    }

    package static func prettyJSON(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return json }
        return String(decoding: data, as: UTF8.self)
    }

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
        .legend { display: flex; gap: 16px; align-items: center; color: var(--muted); margin: 4px 0 12px; }
        .swatch { display: inline-block; width: 14px; height: 4px; vertical-align: middle; margin-right: 6px; }
        .gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }
        .example figcaption { font-size: 13px; font-weight: 600; margin: 2px 4px 6px; overflow-wrap: anywhere; }
        .example .change { font-weight: normal; color: var(--muted); }
        .example.improved .delta { color: #059669; } .example.regressed .delta { color: #dc2626; }
        .pair { display: flex; gap: 6px; }
        .pair .cell { flex: 1 1 0; min-width: 0; font-size: 12px; }
        .pair img { display: block; width: 100%; height: auto; border-radius: 3px; }
        .placeholder { display: flex; align-items: center; justify-content: center; text-align: center; aspect-ratio: 4 / 3;
                       border: 1px dashed var(--muted); border-radius: 3px; color: var(--muted); padding: 6px; overflow-wrap: anywhere; }
        .cell .caption { font-weight: 600; margin-top: 3px; } .cell .text { color: var(--muted); overflow-wrap: anywhere; }
        """
}
