import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON
import MoontuneRandom

@Suite("Data order")
struct DataOrderTests {
    @Test func stepsComputedInSequenceEqualStepsJumpedToDirectly() {
        let sequential = DataOrder(count: 37, seed: 42, groupsPerStep: 8)
        let history = (1...60).map { sequential.indices(forStep: $0) }
        // A fresh value, as a resumed process would have, jumping straight to each step.
        for step in [60, 1, 17, 9, 33] {
            #expect(DataOrder(count: 37, seed: 42, groupsPerStep: 8).indices(forStep: step) == history[step - 1])
        }
    }

    @Test func farStepIsComputedWithoutReplay() {
        let order = DataOrder(count: 1000, seed: 7, groupsPerStep: 16)
        let step = order.indices(forStep: 10_000)
        #expect(step.count == 16)
        #expect(step == DataOrder(count: 1000, seed: 7, groupsPerStep: 16).indices(forStep: 10_000))
    }

    @Test func noExampleTwiceInAStepWhenThereAreEnough() {
        for (count, groups) in [(8, 8), (9, 8), (100, 7), (1000, 32)] {
            let order = DataOrder(count: count, seed: 3, groupsPerStep: groups)
            for step in 1...200 {
                let indices = order.indices(forStep: step)
                #expect(indices.count == groups)
                #expect(Set(indices).count == groups, "step \(step) of count \(count) repeats an example")
                #expect(indices.allSatisfy { (0..<count).contains($0) })
            }
        }
    }

    @Test func eachEpochCoversTheDataOnceAndDropsTheRemainder() {
        let order = DataOrder(count: 10, seed: 5, groupsPerStep: 3)
        #expect(order.stepsPerEpoch == 3)
        let epoch = (1...3).flatMap { order.indices(forStep: $0) }
        #expect(Set(epoch).count == 9)
        #expect(epoch == Array(order.permutation(epoch: 0).prefix(9)))
        #expect(order.indices(forStep: 4) == Array(order.permutation(epoch: 1).prefix(3)))
    }

    @Test func epochsAreShuffledDifferently() {
        let order = DataOrder(count: 50, seed: 11, groupsPerStep: 5)
        #expect(order.permutation(epoch: 0) != order.permutation(epoch: 1))
        #expect(order.permutation(epoch: 0).sorted() == Array(0..<50))
        #expect(order.permutation(epoch: 0) != Array(0..<50))
    }

    @Test func seedChangesTheOrder() {
        #expect(DataOrder(count: 50, seed: 1, groupsPerStep: 5).indices(forStep: 1)
                != DataOrder(count: 50, seed: 2, groupsPerStep: 5).indices(forStep: 1))
    }

    @Test func smallerDatasetThanAStepRunsAcrossEpochs() {
        let order = DataOrder(count: 3, seed: 9, groupsPerStep: 8)
        #expect(order.stepsPerEpoch == 1)
        let step1 = order.indices(forStep: 1)
        let expected = order.permutation(epoch: 0) + order.permutation(epoch: 1) + order.permutation(epoch: 2).prefix(2)
        #expect(step1 == Array(expected))
        let step2 = order.indices(forStep: 2)
        #expect(Array(step2.prefix(1)) == [order.permutation(epoch: 2)[2]])
        #expect(Set(step1).count == 3)
    }

    @Test func invalidStepsGiveNothing() {
        #expect(DataOrder(count: 10, seed: 0, groupsPerStep: 2).indices(forStep: 0).isEmpty)
        #expect(DataOrder(count: 0, seed: 0, groupsPerStep: 2).indices(forStep: 1).isEmpty)
    }

    @Test func splitMix64MatchesItsReferenceOutput() {
        // Reference values of SplitMix64 seeded with 1234567 (from the published C code).
        var random = SplitMix64(seed: 1_234_567)
        #expect(random.next() == 6_457_827_717_110_365_317)
        #expect(random.next() == 3_203_168_211_198_807_973)
        #expect(random.next() == 9_817_491_932_198_370_423)
    }

    @Test func evalSubsetIsFixedSeededAndInFileOrder() {
        let subset = evalIndices(count: 200, seed: 4, maxExamples: 20)
        #expect(subset.count == 20)
        #expect(subset == subset.sorted())
        #expect(Set(subset).count == 20)
        #expect(subset == evalIndices(count: 200, seed: 4, maxExamples: 20))
        #expect(subset != evalIndices(count: 200, seed: 5, maxExamples: 20))
        #expect(evalIndices(count: 7, seed: 4, maxExamples: 50) == Array(0..<7))
    }
}

@Suite("Data order is unchanged")
struct DataOrderGoldenTests {
    /// The reference SplitMix64 outputs (seed 0 and 42), as every earlier build produced them.
    @Test func splitMix64SequenceIsTheReference() {
        var zero = SplitMix64(seed: 0)
        #expect([zero.next(), zero.next(), zero.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var answer = SplitMix64(seed: 42)
        #expect([answer.next(), answer.next(), answer.next()] == [13_679_457_532_755_275_413, 2_949_826_092_126_892_291, 5_139_283_748_462_763_858])
    }

    /// Batches recorded by earlier builds: a resumed job must train on exactly these.
    @Test func stepsAreTheBatchesEarlierBuildsChose() {
        #expect(DataOrder(count: 37, seed: 42, groupsPerStep: 8).indices(forStep: 1) == [20, 31, 22, 21, 33, 30, 19, 26])
        #expect(DataOrder(count: 37, seed: 42, groupsPerStep: 8).indices(forStep: 5) == [22, 0, 18, 21, 7, 34, 27, 20])
        #expect(DataOrder(count: 1000, seed: 7, groupsPerStep: 16).indices(forStep: 10_000)
                == [772, 415, 235, 394, 963, 163, 669, 336, 401, 668, 94, 254, 643, 707, 939, 118])
    }

    /// The cached permutation is the one a fresh shuffle gives, for each epoch in turn and back.
    @Test func cachedPermutationsEqualFreshShuffles() {
        let order = DataOrder(count: 500, seed: 99, groupsPerStep: 10)
        for epoch: UInt64 in [0, 1, 0, 2, 3, 1, 0] {
            let fresh = DataOrder.shuffled(500, seed: 99 ^ (epoch &* 0x9E37_79B9_7F4A_7C15))
            #expect(order.permutation(epoch: epoch) == fresh)
            #expect(order.permutation(epoch: epoch) == fresh)
        }
        // Every step of three epochs, computed with a warm cache, matches a cold computation.
        let cache = PermutationCache(capacity: 2)
        var calls = 0
        for _ in 0..<5 { _ = cache.permutation(count: 3, seed: 1) { calls += 1; return [2, 0, 1] } }
        #expect(calls == 1)
    }
}
