/// A key's pointing policy: a Gaussian around a mean point, plus a uniform exploration branch
/// (a pretrained model sometimes looks elsewhere). Learning moves the mean toward the
/// better-rewarded points and fits the spread to them, cross-entropy-method style.
package struct PointPolicy: Sendable, Equatable {
    package var meanX: Double
    package var meanY: Double
    package var sigma: Double
    package var explore: Double

    package static let sigmaRange = 0.02...0.3
    package static let exploreFloor = 0.02

    /// The base policy: near the image centre, as a generic model would guess, varied per key.
    package init(base random: inout SimRandom) {
        meanX = 0.5 + random.uniform(-0.2, 0.2)
        meanY = 0.5 + random.uniform(-0.2, 0.2)
        sigma = 0.2
        explore = 0.2
    }

    package func sample(temperature: Double, random: inout SimRandom) -> PolicySample {
        guard temperature > 0 else {
            return PolicySample(output: .points([SimPoint(x: meanX, y: meanY)]), logprob: 0)
        }
        let spread = sigma * temperature
        if random.unit() < explore * min(1, temperature) {
            let point = SimPoint(x: random.unit(), y: random.unit())
            return PolicySample(output: .points([point]), explored: true, logprob: log(max(explore, 1e-9)))
        }
        let dx = random.gaussian() * spread, dy = random.gaussian() * spread
        let point = SimPoint(x: clamp01(meanX + dx), y: clamp01(meanY + dy))
        let density = -(dx * dx + dy * dy) / (2 * spread * spread) - log(2 * Double.pi * spread * spread)
        return PolicySample(output: .points([point]), logprob: log(1 - explore) + density)
    }

    /// One update from a group: `points[i]` drawn (explored or not), normalized advantages `weights`.
    package mutating func learn(points: [SimPoint], explored: [Bool], weights: [Double], step: Double) {
        var moveX = 0.0, moveY = 0.0, variance = 0.0, exploreMove = 0.0
        for index in points.indices {
            let dx = points[index].x - meanX, dy = points[index].y - meanY
            moveX += weights[index] * dx
            moveY += weights[index] * dy
            variance += weights[index] * ((dx * dx + dy * dy) / 2 - sigma * sigma)
            exploreMove += weights[index] * ((explored[index] ? 1 : 0) - explore)
        }
        meanX = clamp01(meanX + step * moveX)
        meanY = clamp01(meanY + step * moveY)
        let newVariance = max(Self.sigmaRange.lowerBound * Self.sigmaRange.lowerBound, sigma * sigma + 4 * step * variance)
        sigma = min(Self.sigmaRange.upperBound, max(Self.sigmaRange.lowerBound, newVariance.squareRoot()))
        explore = min(0.5, max(Self.exploreFloor, explore + step * exploreMove))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
