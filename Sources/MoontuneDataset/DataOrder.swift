import MoontuneConfig
import MoontuneJSON
import MoontuneRandom
import Synchronization

/// Which examples each step trains on: a pure function of (number of examples, seed, step), so a
/// resumed job trains on exactly the batches an uninterrupted one would, and step 10,000 costs
/// no more to compute than step 1.
///
/// Each epoch is a Fisher-Yates shuffle of `0..<count` driven by `SplitMix64` seeded with
/// `seed ^ (epoch × 0x9E3779B97F4A7C15)`. When `count ≥ groupsPerStep`, an epoch yields
/// `count / groupsPerStep` steps and drops the remainder (as `drop_last` does), so no example
/// appears twice in a step. When `count < groupsPerStep`, a step takes the next
/// `groupsPerStep` positions of the endless sequence of epochs, and repeats are unavoidable.
public struct DataOrder: Sendable, Hashable {
    public let count: Int
    public let seed: UInt64
    public let groupsPerStep: Int

    public init(count: Int, seed: UInt64, groupsPerStep: Int) {
        self.count = count
        self.seed = seed
        self.groupsPerStep = groupsPerStep
    }

    /// Steps in one pass over the data (at least 1 when there are examples).
    public var stepsPerEpoch: Int {
        guard count > 0, groupsPerStep > 0 else { return 0 }
        return count >= groupsPerStep ? count / groupsPerStep : 1
    }

    /// The example indices of step `k` (1-based), in group order. Empty for k < 1 or no examples.
    public func indices(forStep k: Int) -> [Int] {
        guard k >= 1, count > 0, groupsPerStep > 0 else { return [] }
        let step = k - 1
        if count >= groupsPerStep {
            let perEpoch = count / groupsPerStep
            let position = (step % perEpoch) * groupsPerStep
            return Array(permutation(epoch: UInt64(step / perEpoch))[position..<position + groupsPerStep])
        }
        // Fewer examples than a step needs: run through consecutive epochs.
        var result: [Int] = []
        result.reserveCapacity(groupsPerStep)
        let (start, overflow) = step.multipliedReportingOverflow(by: groupsPerStep)
        var position = overflow ? 0 : start
        var epoch = position / count
        var permutation = permutation(epoch: UInt64(epoch))
        while result.count < groupsPerStep {
            if position / count != epoch {
                epoch = position / count
                permutation = self.permutation(epoch: UInt64(epoch))
            }
            result.append(permutation[position % count])
            position += 1
        }
        return result
    }

    /// The example indices of attempt `attempt` of step `k`, in group order. Attempt 0 is
    /// `indices(forStep:)`, the step's own batch. A later attempt (`train.skip_constant_groups`:
    /// every group of the earlier ones was constant) draws `groupsPerStep` indices from a
    /// SplitMix64 stream of its own, seeded by (seed, step, attempt): without repeats when the
    /// set is large enough, with them when it is not. It depends on nothing else, so no other
    /// step's batch (nor any other attempt's) changes.
    public func indices(forStep k: Int, attempt: Int) -> [Int] {
        guard attempt > 0 else { return indices(forStep: k) }
        guard k >= 1, count > 0, groupsPerStep > 0 else { return [] }
        var random = SplitMix64(seed: Self.attemptSeed(seed: seed, step: k, attempt: attempt))
        guard count >= groupsPerStep else {
            return (0..<groupsPerStep).map { _ in Int(random.next(below: UInt64(count))) }
        }
        // The first groupsPerStep positions of a Fisher-Yates shuffle, the swaps kept sparse.
        var swapped: [Int: Int] = [:]
        var result: [Int] = []
        result.reserveCapacity(groupsPerStep)
        for i in 0..<groupsPerStep {
            let j = i + Int(random.next(below: UInt64(count - i)))
            let atJ = swapped[j] ?? j
            swapped[j] = swapped[i] ?? i
            result.append(atJ)
        }
        return result
    }

    /// The seed of an attempt's stream: the job's seed, the step and the attempt mixed through a
    /// SplitMix64 step each, so nearby steps and attempts give unrelated streams.
    package static func attemptSeed(seed: UInt64, step: Int, attempt: Int) -> UInt64 {
        var mix = SplitMix64(seed: seed ^ 0xA77E_3B75_0F5E_ED00)
        var value = mix.next()
        var stepMix = SplitMix64(seed: value ^ UInt64(bitPattern: Int64(step)))
        value = stepMix.next()
        var attemptMix = SplitMix64(seed: value ^ UInt64(bitPattern: Int64(attempt)))
        return attemptMix.next()
    }

    /// The shuffled order of one epoch, shuffled once and then served from `PermutationCache`
    /// (every step and every gatherer asks for it, and each builds its own `DataOrder`).
    package func permutation(epoch: UInt64) -> [Int] {
        let epochSeed = seed ^ (epoch &* 0x9E37_79B9_7F4A_7C15)
        return PermutationCache.shared.permutation(count: count, seed: epochSeed) {
            Self.shuffled(count, seed: epochSeed)
        }
    }

    /// `0..<count` shuffled by Fisher-Yates with a SplitMix64 stream.
    package static func shuffled(_ count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var random = SplitMix64(seed: seed)
        var i = count - 1
        while i > 0 {
            let j = random.next(below: UInt64(i + 1))
            order.swapAt(i, Int(j))
            i -= 1
        }
        return order
    }
}

/// The eval examples: a fixed subset of `maxExamples` indices of the eval set chosen by the seed,
/// in file order. All of them when the set is no larger.
public func evalIndices(count: Int, seed: UInt64, maxExamples: Int) -> [Int] {
    guard count > 0, maxExamples > 0 else { return [] }
    guard maxExamples < count else { return Array(0..<count) }
    // A stream of its own, apart from every training epoch's.
    let chosen = DataOrder.shuffled(count, seed: ~seed ^ 0x5EED_0E7A_1E7A_1000)
    return chosen.prefix(maxExamples).sorted()
}

/// The last few epoch permutations, shared by every `DataOrder` of the process: a value is
/// recomputed only when the epoch (or the dataset, or the seed) changes, instead of for every
/// step. Two entries cover a step that straddles two epochs; each holds `count` indices, so the
/// memory stays a small multiple of one epoch's order.
package final class PermutationCache: Sendable {
    package static let shared = PermutationCache(capacity: 2)

    private struct Key: Hashable {
        package var count: Int
        package var seed: UInt64
    }

    private let capacity: Int
    /// Most recently used last.
    private let entries = Mutex<[(key: Key, order: [Int])]>([])

    package init(capacity: Int) {
        self.capacity = capacity
    }

    /// The cached permutation for (count, seed), or `make()`'s, which is then cached. The shuffle
    /// runs outside the lock: two callers may both compute it once, and get the same array.
    package func permutation(count: Int, seed: UInt64, make: () -> [Int]) -> [Int] {
        let key = Key(count: count, seed: seed)
        let cached: [Int]? = entries.withLock { entries in
            guard let position = entries.firstIndex(where: { $0.key == key }) else { return nil }
            let entry = entries.remove(at: position)
            entries.append(entry)
            return entry.order
        }
        if let cached { return cached }
        let order = make()
        entries.withLock { entries in
            guard !entries.contains(where: { $0.key == key }) else { return }
            entries.append((key, order))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
        return order
    }
}
