import Testing
@testable import MoontuneJob

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
