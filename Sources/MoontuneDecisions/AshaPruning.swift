import MoontuneStore

/// ASHA's decision at a rung (issue 25), pure: a variant whose eval at a rung step is recorded goes
/// on only if its metric there is within the top `keep` fraction of the sweep's variants with an
/// eval at that rung, itself included. Higher is better.
///
/// - The cohort is the variant and its siblings with a value at the rung; with fewer than 2 of
///   them, it goes on (nothing to compare with).
/// - The top fraction keeps `max(1, ⌊keep × n⌋)` variants: with n = 3 and keep = 0.5, only the
///   best goes on; the best always does.
/// - Rank is 1 + the number of siblings strictly better: equal values share the better rank, so a
///   tie never prunes one of two equal variants and keeps the other.
/// - A variant whose eval lacks the metric (no example of the metric's skill) goes on: there is
///   nothing to judge it by.
package enum AshaPruning {
    package static func decide(_ cohort: PruneCohort, rule: PruneRule) -> PruneVerdict {
        decide(value: cohort.value, siblings: cohort.siblings.map(\.value), keep: rule.keep)
    }

    package static func decide(value: Double?, siblings: [Double], keep: Double) -> PruneVerdict {
        guard let value else {
            return PruneVerdict(goesOn: true, rank: 1, cohort: 1, kept: 1)
        }
        let n = siblings.count + 1
        let rank = 1 + siblings.filter { $0 > value }.count
        let kept = keptCount(cohort: n, keep: keep)
        if n < 2 { return PruneVerdict(goesOn: true, rank: rank, cohort: n, kept: kept) }
        return PruneVerdict(goesOn: rank <= kept, rank: rank, cohort: n, kept: kept)
    }

    /// How many of `n` variants the top `keep` fraction holds: ⌊keep × n⌋ (a hair of tolerance, so
    /// that 0.3 × 10 is 3), at least 1, at most n.
    package static func keptCount(cohort n: Int, keep: Double) -> Int {
        guard n > 0 else { return 0 }
        let raw = Int((min(1, max(0, keep)) * Double(n) + 1e-9).rounded(.down))
        return min(n, max(1, raw))
    }
}
