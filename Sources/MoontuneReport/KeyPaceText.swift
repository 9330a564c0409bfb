import Foundation
import MoontuneStore

/// The pace in force per API key (issue 22), as `status` prints it under the job table.
package enum KeyPaceText {
    /// A pace not rewritten for this long is a process's that has ended (they write about once a
    /// second).
    package static let staleAfterMs: Int64 = 10_000

    /// Lines under the job table; empty when no pace was written. Keys are shown by their id.
    package static func lines(_ paces: [KeyPaceRecord], nowMs: Int64) -> [String] {
        guard !paces.isEmpty else { return [] }
        var rows = [["API KEY", "PACED BY", "PACE", "LIMIT SET", "429s", "ANSWERED", "NOW"]]
        for pace in paces {
            let age = nowMs - pace.updatedAtMs
            let now: String
            if age > staleAfterMs {
                now = "ended (last seen \(ReportText.duration(seconds: Double(age) / 1000)) ago)"
            } else if let until = pace.heldUntilMs, until > nowMs {
                now = "Retry-After, \(ReportText.duration(seconds: Double(until - nowMs) / 1000)) left"
            } else {
                now = "-"
            }
            rows.append([pace.keyID, pace.source, rate(pace.pacePerSecond), rate(pace.ceilingPerSecond),
                         "\(pace.rateLimited)", "\(pace.accepted)", now])
        }
        return ["", "pace per API key id (requests a second; unpaced until a 429 or a stated limit):"]
            + PlainTable.render(rows).split(separator: "\n").map(String.init)
    }

    /// `4.75/s`, or `unpaced`.
    package static func rate(_ value: Double?) -> String {
        guard let value else { return "unpaced" }
        return value >= 10 ? String(format: "%.1f/s", value) : String(format: "%.2f/s", value)
    }
}
