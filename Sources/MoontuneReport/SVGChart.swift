import Foundation

/// A line chart as inline SVG: axes with round-number ticks, one or more series, an optional
/// shaded band (mean ± std) and markers. Pure text in, text out; no scripts, no network.
///
/// Kept hand-written on purpose (issue 16): a chart is geometry, not markup a template helps
/// with; series are thinned to a bounded number of points (`thinned`), so four charts render in
/// milliseconds whatever the job's length, and no charting dependency would keep the page one
/// self-contained, script-free file. Every text it draws goes through `HTMLText.escape`.
package struct SVGChart: Sendable {
    package struct Point: Sendable, Equatable {
        package var x: Double
        package var y: Double
    }

    package struct Band: Sendable, Equatable {
        package var x: Double
        package var low: Double
        package var high: Double
    }

    package struct Series: Sendable {
        package var name: String
        package var color: String
        package var points: [Point]
        package var band: [Band] = []
        package var markers = false
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    /// A fixed y range (rewards and fractions live in 0...1); nil fits the data.
    package var yRange: ClosedRange<Double>?
    package var series: [Series]
    package var width = 720
    package var height = 240

    /// The most points drawn per series: longer series are averaged into buckets.
    package static let maxPoints = 600

    package static let margin = (left: 56.0, right: 16.0, top: 30.0, bottom: 40.0)

    package func render() -> String {
        let series = self.series.map(Self.thinned)
        let xs = series.flatMap { $0.points.map(\.x) + $0.band.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" "
            + "aria-label=\"\(HTMLText.escape(title))\">\n"
        svg += "<title>\(HTMLText.escape(title))</title>\n"
        svg += text(x: Self.margin.left, y: 18, title, anchor: "start", cssClass: "chart-title")
        guard let xMin = xs.min(), let xMax = xs.max(), let yMinData = ys.min(), let yMaxData = ys.max() else {
            svg += text(x: Double(width) / 2, y: Double(height) / 2, "no data yet", anchor: "middle", cssClass: "empty")
            return svg + "</svg>"
        }
        let xAxis = Self.niceAxis(low: xMin, high: xMax == xMin ? xMin + 1 : xMax)
        let yAxis = yRange.map { Axis(low: $0.lowerBound, high: $0.upperBound, ticks: Self.niceAxis(low: $0.lowerBound, high: $0.upperBound).ticks) }
            ?? Self.niceAxis(low: min(yMinData, 0), high: yMaxData == min(yMinData, 0) ? yMaxData + 1 : yMaxData)
        let plot = (x0: Self.margin.left, y0: Self.margin.top, x1: Double(width) - Self.margin.right, y1: Double(height) - Self.margin.bottom)
        func px(_ x: Double) -> Double { plot.x0 + (x - xAxis.low) / (xAxis.high - xAxis.low) * (plot.x1 - plot.x0) }
        func py(_ y: Double) -> Double {
            let clamped = min(max(y, yAxis.low), yAxis.high)
            return plot.y1 - (clamped - yAxis.low) / (yAxis.high - yAxis.low) * (plot.y1 - plot.y0)
        }

        svg += "<g class=\"grid\">\n"
        for tick in yAxis.ticks {
            svg += "<line x1=\"\(f(plot.x0))\" y1=\"\(f(py(tick)))\" x2=\"\(f(plot.x1))\" y2=\"\(f(py(tick)))\"/>\n"
            svg += text(x: plot.x0 - 6, y: py(tick) + 4, Self.label(tick), anchor: "end", cssClass: "tick")
        }
        for tick in xAxis.ticks {
            svg += "<line x1=\"\(f(px(tick)))\" y1=\"\(f(plot.y1))\" x2=\"\(f(px(tick)))\" y2=\"\(f(plot.y1 + 4))\"/>\n"
            svg += text(x: px(tick), y: plot.y1 + 16, Self.label(tick), anchor: "middle", cssClass: "tick")
        }
        svg += "</g>\n"
        svg += "<rect class=\"frame\" x=\"\(f(plot.x0))\" y=\"\(f(plot.y0))\" width=\"\(f(plot.x1 - plot.x0))\" height=\"\(f(plot.y1 - plot.y0))\"/>\n"
        svg += text(x: (plot.x0 + plot.x1) / 2, y: Double(height) - 6, xLabel, anchor: "middle", cssClass: "axis-label")
        svg += "<text class=\"axis-label\" text-anchor=\"middle\" transform=\"translate(14 \(f((plot.y0 + plot.y1) / 2))) rotate(-90)\">"
            + HTMLText.escape(yLabel) + "</text>\n"

        for item in series {
            if !item.band.isEmpty {
                let upper = item.band.map { "\(f(px($0.x))),\(f(py($0.high)))" }
                let lower = item.band.reversed().map { "\(f(px($0.x))),\(f(py($0.low)))" }
                svg += "<polygon class=\"band\" fill=\"\(item.color)\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
            }
            if item.points.count > 1 {
                let points = item.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline class=\"line\" stroke=\"\(item.color)\" points=\"\(points)\"/>\n"
            }
            if item.markers || item.points.count == 1 {
                for point in item.points {
                    svg += "<circle class=\"marker\" fill=\"\(item.color)\" cx=\"\(f(px(point.x)))\" cy=\"\(f(py(point.y)))\" r=\"3.5\">"
                        + "<title>\(HTMLText.escape(item.name)) at \(Self.label(point.x)): \(String(format: "%.3f", point.y))</title></circle>\n"
                }
            }
        }
        if series.count > 1 {
            // Right-aligned swatches and names; the width of a name is estimated (no font metrics).
            var x = plot.x1
            for item in series.reversed() {
                x -= Double(item.name.count) * 7
                svg += text(x: x, y: 18, item.name, anchor: "start", cssClass: "legend", fill: item.color)
                x -= 16
                svg += "<rect x=\"\(f(x))\" y=\"12\" width=\"12\" height=\"4\" style=\"fill:\(item.color)\"/>\n"
                x -= 12
            }
        }
        return svg + "</svg>"
    }

    private func text(x: Double, y: Double, _ content: String, anchor: String, cssClass: String, fill: String? = nil) -> String {
        // An inline style, not a `fill` attribute: the page's stylesheet would win over an attribute.
        "<text class=\"\(cssClass)\" x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\"" + (fill.map { " style=\"fill:\($0)\"" } ?? "")
            + ">\(HTMLText.escape(content))</text>\n"
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    package struct Axis: Sendable, Equatable {
        package var low: Double
        package var high: Double
        package var ticks: [Double]
    }

    /// An axis from a round number below `low` to one above `high`, with 3 to 7 round ticks.
    package static func niceAxis(low: Double, high: Double) -> Axis {
        let span = max(high - low, 1e-9)
        let rough = span / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let start = floor(low / step) * step
        let end = ceil(high / step) * step
        let count = Int(((end - start) / step).rounded())
        return Axis(low: start, high: end, ticks: (0...max(count, 1)).map { start + Double($0) * step })
    }

    package static func label(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e9 { return String(Int(value)) }
        return String(format: "%.3g", value)
    }

    /// At most `maxPoints` points and band entries: consecutive ones averaged.
    package static func thinned(_ series: Series) -> Series {
        var series = series
        if series.points.count > maxPoints {
            series.points = Downsample.ranges(count: series.points.count, buckets: maxPoints).map { range in
                let slice = series.points[range]
                return Point(x: slice.map(\.x).reduce(0, +) / Double(slice.count), y: slice.map(\.y).reduce(0, +) / Double(slice.count))
            }
        }
        if series.band.count > maxPoints {
            series.band = Downsample.ranges(count: series.band.count, buckets: maxPoints).map { range in
                let slice = series.band[range]
                let n = Double(slice.count)
                return Band(x: slice.map(\.x).reduce(0, +) / n, low: slice.map(\.low).reduce(0, +) / n, high: slice.map(\.high).reduce(0, +) / n)
            }
        }
        return series
    }
}

/// Text made safe for HTML and SVG (element content and quoted attributes alike).
package enum HTMLText {
    package static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
