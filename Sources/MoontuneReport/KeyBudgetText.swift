import Foundation
import MoontuneStore

/// The request budgets `serve` holds per API key, as `status` prints them under its table.
package enum KeyBudgetText {
    /// A budget not rewritten for this long is a stopped daemon's (it writes about once a second).
    package static let staleAfterMs: Int64 = 10_000

    /// Lines under the job table; empty when no `serve` has written a budget. Keys are shown by
    /// their id (a hash), never the key.
    package static func lines(_ budgets: [KeyBudgetRecord], nowMs: Int64) -> [String] {
        guard !budgets.isEmpty else { return [] }
        var rows = [["API KEY", "BUDGET", "IN FLIGHT", "429s", "HELD"]]
        for budget in budgets.sorted(by: { $0.keyID < $1.keyID }) {
            let age = nowMs - budget.updatedAtMs
            let held: String
            if age > staleAfterMs {
                held = "serve gone (last seen \(ReportText.duration(seconds: Double(age) / 1000)) ago)"
            } else if let until = budget.heldUntilMs, until > nowMs {
                held = "Retry-After, \(ReportText.duration(seconds: Double(until - nowMs) / 1000)) left"
            } else {
                held = "-"
            }
            rows.append([budget.keyID, "\(budget.budget)/\(budget.maxBudget)", "\(budget.inFlight)", "\(budget.rateLimited)", held])
        }
        return ["", "request budgets of serve, by API key id:"] + PlainTable.render(rows).split(separator: "\n").map(String.init)
    }
}
