import Testing
@testable import MoontuneDecisions
@testable import MoontuneStore

/// ASHA's rung decision (issue 25): the top `keep` fraction of the variants with an eval at the
/// rung go on, the rest are pruned.
@Suite struct AshaPruningTests {
    @Test func aLoneVariantAtARungGoesOn() {
        let verdict = AshaPruning.decide(value: 0.1, siblings: [], keep: 0.5)
        #expect(verdict == PruneVerdict(goesOn: true, rank: 1, cohort: 1, kept: 1))
    }

    @Test func ofTwoWithKeepHalfOnlyTheBetterGoesOn() {
        #expect(AshaPruning.decide(value: 0.2, siblings: [0.5], keep: 0.5) == PruneVerdict(goesOn: false, rank: 2, cohort: 2, kept: 1))
        #expect(AshaPruning.decide(value: 0.5, siblings: [0.2], keep: 0.5) == PruneVerdict(goesOn: true, rank: 1, cohort: 2, kept: 1))
    }

    @Test func aVariantWithoutTheMetricGoesOn() {
        #expect(AshaPruning.decide(value: nil, siblings: [0.9, 0.8], keep: 0.5).goesOn)
    }

    @Test func equalValuesShareTheBetterRankSoATieIsNeverSplit() {
        let verdict = AshaPruning.decide(value: 0.5, siblings: [0.5], keep: 0.5)
        #expect(verdict.goesOn && verdict.rank == 1)
    }

    @Test func theKeptCountIsTheFloorOfTheFractionAndAtLeastOne() {
        #expect(AshaPruning.keptCount(cohort: 3, keep: 0.5) == 1)
        #expect(AshaPruning.keptCount(cohort: 4, keep: 0.5) == 2)
        #expect(AshaPruning.keptCount(cohort: 10, keep: 0.3) == 3)
        #expect(AshaPruning.keptCount(cohort: 2, keep: 0.25) == 1)
        #expect(AshaPruning.keptCount(cohort: 5, keep: 0.99) == 4)
    }

    /// Every cohort of 1 to 6 variants over values from {0, 1, 2, 3} (ties included), each
    /// variant deciding on the same record, for several fractions: the properties that make the
    /// rule ASHA's.
    @Test func exhaustivelyOverSmallCohorts() {
        for n in 1...6 {
            for keep in [0.2, 0.25, 0.34, 0.5, 0.75, 0.9] {
                var cohort = [Int](repeating: 0, count: n)
                repeat {
                    let values = cohort.map(Double.init)
                    let verdicts = values.indices.map { index in
                        AshaPruning.decide(value: values[index], siblings: values.enumerated().filter { $0.offset != index }.map(\.element),
                                           keep: keep)
                    }
                    let goesOn = verdicts.map(\.goesOn)
                    let kept = AshaPruning.keptCount(cohort: n, keep: keep)
                    // The best always goes on; fewer than 2 always go on.
                    #expect(goesOn[values.firstIndex(of: values.max()!)!])
                    if n < 2 { #expect(goesOn.allSatisfy { $0 }) }
                    // Monotonic: whatever goes on, a better value goes on too.
                    for i in values.indices { for j in values.indices where values[j] > values[i] && goesOn[i] { #expect(goesOn[j]) } }
                    // Equal values get equal verdicts.
                    for i in values.indices { for j in values.indices where values[j] == values[i] { #expect(goesOn[j] == goesOn[i]) } }
                    // At least `kept` go on, and more only through ties at the boundary.
                    let count = goesOn.filter { $0 }.count
                    if n >= 2 {
                        #expect(count >= kept)
                        if Set(values).count == n { #expect(count == kept) }
                    }
                    // Each verdict's figures are the cohort's.
                    for verdict in verdicts { #expect(verdict.cohort == n && verdict.kept == kept && verdict.rank >= 1 && verdict.rank <= n) }
                } while Self.advance(&cohort, base: 4)
            }
        }
    }

    /// The next cohort in counting order; false after the last.
    static func advance(_ digits: inout [Int], base: Int) -> Bool {
        for index in digits.indices {
            digits[index] += 1
            if digits[index] < base { return true }
            digits[index] = 0
        }
        return false
    }
}
