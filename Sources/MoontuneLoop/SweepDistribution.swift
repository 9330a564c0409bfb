import Foundation
import MoontuneJSON
import MoontuneJob
import MoontuneRandom

/// What `random` draws a key's value from (issue 25): one of a list, or a distribution.
package enum SweepDistribution: Sendable, Equatable {
    /// One of the values, each as likely.
    case choice([JSONValue])
    /// Uniform in [a, b].
    case uniform(Double, Double)
    /// Its logarithm uniform: a and b > 0 (learning rates).
    case logUniform(Double, Double)
    /// An integer in a...b, both included.
    case intUniform(Int, Int)

    /// One draw, from the sweep's one generator (SplitMix64, seeded by `seed`).
    package func draw(_ random: inout SplitMix64) -> JSONValue {
        switch self {
        case .choice(let values):
            return values[Int(random.next(below: UInt64(values.count)))]
        case let .uniform(low, high):
            return .double(min(high, low + (high - low) * random.unit()))
        case let .logUniform(low, high):
            return .double(min(high, max(low, exp(log(low) + (log(high) - log(low)) * random.unit()))))
        case let .intUniform(low, high):
            return .int(low + Int(random.next(below: UInt64(high - low) + 1)))
        }
    }

    /// How many draws `sample` makes per variant asked for before it gives up finding new ones.
    static let drawsPerSample = 50

    /// `samples` distinct draws of every key, key by key in the file's order within a sample. A
    /// draw equal to an earlier one is drawn again (the same job twice would only spend its
    /// rollouts twice); when the distributions cannot give that many distinct variants, fewer come
    /// back (after `drawsPerSample` draws per variant asked for).
    package static func sample(_ distributions: [SweepDistribution], samples: Int, seed: UInt64) -> [[JSONValue]] {
        var random = SplitMix64(seed: seed)
        var drawn: [[JSONValue]] = []
        var seen: Set<String> = []
        for _ in 0..<(samples * drawsPerSample) where drawn.count < samples {
            let values = distributions.map { $0.draw(&random) }
            if seen.insert(JSONValue.list(values).serialized()).inserted { drawn.append(values) }
        }
        return drawn
    }
}

extension SweepReader {
    mutating func readRandom(_ random: JSONNode, root: JSONNode) -> ([SweepSpec.Key], [SweepSpec.Variant]) {
        guard case .object(let allMembers) = random.value else {
            add("random", "must be an object: config key → list of values or a distribution", at: random)
            return ([], [])
        }
        // `samples` and `seed` may sit beside `random` or inside it.
        let members = allMembers.filter { $0.key != "samples" && $0.key != "seed" }
        let samplesNode = root["samples"] ?? random["samples"]
        let seedNode = root["seed"] ?? random["seed"]
        var samples = 0
        if let samplesNode, case .number(let number) = samplesNode.value, let value = number.int, value >= 1 {
            samples = value
        } else {
            add("samples", "random needs \"samples\": the number of variants to draw (≥ 1)", at: samplesNode ?? random)
        }
        var seed: UInt64 = 0
        if let seedNode, case .number(let number) = seedNode.value, let value = number.uint64 {
            seed = value
        } else {
            add("seed", "random needs \"seed\": a non-negative integer, so the same file draws the same variants", at: seedNode ?? random)
        }
        guard !members.isEmpty else {
            add("random", "must give at least one config key", at: random)
            return ([], [])
        }
        var keys: [SweepSpec.Key] = []
        var distributions: [SweepDistribution] = []
        var seen: Set<String> = []
        for member in members {
            guard let key = checkKey(member, section: "random") else { continue }
            if !seen.insert(member.key).inserted { add(key.field, "given twice", at: member.node); continue }
            guard let distribution = readDistribution(member.node, field: key.field) else { continue }
            keys.append(key)
            distributions.append(distribution)
        }
        guard keys.count == members.count, samples >= 1, samples <= SweepSpec.maxVariants else {
            if samples > SweepSpec.maxVariants { add("samples", "at most \(SweepSpec.maxVariants)", at: samplesNode) }
            return ([], [])
        }
        let drawn = SweepDistribution.sample(distributions, samples: samples, seed: seed)
        guard drawn.count == samples else {
            add("samples", "the random keys give only \(drawn.count) distinct variant\(drawn.count == 1 ? "" : "s") (asked for \(samples)): "
                + "lower samples to \(drawn.count), widen the lists or ranges, or use grid", at: samplesNode)
            return ([], [])
        }
        return (keys, drawn.enumerated().map { SweepSpec.Variant(position: $0.offset + 1, values: $0.element) })
    }

    mutating func readDistribution(_ node: JSONNode, field: String) -> SweepDistribution? {
        switch node.value {
        case .array(let elements) where !elements.isEmpty:
            return .choice(elements.map(\.value))
        case .object(let members) where members.count == 1:
            let kind = members[0].key
            guard case .array(let bounds) = members[0].node.value, bounds.count == 2,
                  case .number(let a) = bounds[0].value, case .number(let b) = bounds[1].value,
                  a.double.isFinite, b.double.isFinite, a.double <= b.double else {
                add("\(field).\(kind)", "must be [a, b] with a ≤ b", at: members[0].node)
                return nil
            }
            switch kind {
            case "uniform": return .uniform(a.double, b.double)
            case "log_uniform":
                guard a.double > 0 else { add("\(field).log_uniform", "needs a > 0", at: members[0].node); return nil }
                return .logUniform(a.double, b.double)
            case "int_uniform":
                guard let low = a.int, let high = b.int, high - low < Int(UInt32.max) else {
                    add("\(field).int_uniform", "needs integers", at: members[0].node)
                    return nil
                }
                return .intUniform(low, high)
            default:
                add("\(field).\(kind)", "unknown distribution (uniform, log_uniform, int_uniform)", at: members[0].node)
                return nil
            }
        default:
            add(field, "must be a non-empty list of values or one of {\"uniform\": [a, b]}, {\"log_uniform\": [a, b]}, "
                + "{\"int_uniform\": [a, b]}", at: node)
            return nil
        }
    }
}
