/// A key's detection policy: a few box "slots", each a mean box (centre and log size) with its
/// own spread and a presence probability. Learning is the same advantage-weighted fit as for
/// points, per slot, and presence follows the score-function gradient of a Bernoulli.
package struct DetectPolicy: Sendable, Equatable {
    package struct Slot: Sendable, Equatable {
        package var centerX: Double
        package var centerY: Double
        package var logWidth: Double
        package var logHeight: Double
        package var presence: Double
        package var centerSigma: Double
        package var sizeSigma: Double

        package var box: SimBox { Self.box(centerX, centerY, logWidth, logHeight) }

        package static func box(_ cx: Double, _ cy: Double, _ lw: Double, _ lh: Double) -> SimBox {
            let width = exp(lw), height = exp(lh)
            return SimBox(xMin: clamp01(cx - width / 2), yMin: clamp01(cy - height / 2),
                          xMax: clamp01(cx + width / 2), yMax: clamp01(cy + height / 2))
        }
    }

    package static let slotCount = 4
    package var slots: [Slot]

    /// The base policy: boxes of a third of the image or so, around the centre, varied per key.
    /// The spreads are wide enough that IoU ≥ 0.5 hits happen within the first steps.
    package init(base random: inout SimRandom) {
        slots = (0..<Self.slotCount).map { _ in
            Slot(centerX: random.uniform(0.25, 0.75), centerY: random.uniform(0.25, 0.75),
                 logWidth: log(random.uniform(0.2, 0.4)), logHeight: log(random.uniform(0.2, 0.4)),
                 presence: 0.5, centerSigma: 0.15, sizeSigma: 0.35)
        }
    }

    package func sample(temperature: Double, maxObjects: Int?, random: inout SimRandom) -> PolicySample {
        var boxes: [SimBox] = [], used: [Int] = []
        var logprob = 0.0
        let limit = maxObjects ?? Int.max
        for (index, slot) in slots.enumerated() {
            let present: Bool
            if temperature > 0 {
                let probability = sigmoid(slot.presence / temperature)
                present = random.unit() < probability
                logprob += log(max(present ? probability : 1 - probability, 1e-12))
            } else {
                present = slot.presence > 0
            }
            guard present, boxes.count < limit else { continue }
            if temperature > 0 {
                let c = slot.centerSigma * temperature, s = slot.sizeSigma * temperature
                boxes.append(Slot.box(slot.centerX + random.gaussian() * c, slot.centerY + random.gaussian() * c,
                                      slot.logWidth + random.gaussian() * s, slot.logHeight + random.gaussian() * s))
            } else {
                boxes.append(slot.box)
            }
            used.append(index)
        }
        return PolicySample(output: .boxes(boxes), slots: used, logprob: logprob)
    }

    /// One update from a group: `drawn[i]` maps slot index to the box it produced in rollout i.
    package mutating func learn(drawn: [[Int: SimBox]], weights: [Double], step: Double) {
        for index in slots.indices {
            var slot = slots[index]
            let probability = sigmoid(slot.presence)
            var presenceMove = 0.0, move = [0.0, 0.0, 0.0, 0.0], centerVar = 0.0, sizeVar = 0.0
            for (rollout, boxes) in drawn.enumerated() {
                let weight = weights[rollout]
                guard let box = boxes[index] else {
                    presenceMove -= weight * probability
                    continue
                }
                presenceMove += weight * (1 - probability)
                let cx = (box.xMin + box.xMax) / 2 - slot.centerX
                let cy = (box.yMin + box.yMax) / 2 - slot.centerY
                let lw = log(max(box.xMax - box.xMin, 0.01)) - slot.logWidth
                let lh = log(max(box.yMax - box.yMin, 0.01)) - slot.logHeight
                move[0] += weight * cx; move[1] += weight * cy; move[2] += weight * lw; move[3] += weight * lh
                centerVar += weight * ((cx * cx + cy * cy) / 2 - slot.centerSigma * slot.centerSigma)
                sizeVar += weight * ((lw * lw + lh * lh) / 2 - slot.sizeSigma * slot.sizeSigma)
            }
            slot.presence = min(6, max(-6, slot.presence + 2 * step * presenceMove))
            slot.centerX = clamp01(slot.centerX + step * move[0])
            slot.centerY = clamp01(slot.centerY + step * move[1])
            slot.logWidth = min(0, max(log(0.01), slot.logWidth + step * move[2]))
            slot.logHeight = min(0, max(log(0.01), slot.logHeight + step * move[3]))
            slot.centerSigma = Self.refit(slot.centerSigma, by: 4 * step * centerVar, range: 0.01...0.3)
            slot.sizeSigma = Self.refit(slot.sizeSigma, by: 4 * step * sizeVar, range: 0.02...0.6)
            slots[index] = slot
        }
    }

    private static func refit(_ sigma: Double, by change: Double, range: ClosedRange<Double>) -> Double {
        let variance = max(range.lowerBound * range.lowerBound, sigma * sigma + change)
        return min(range.upperBound, max(range.lowerBound, variance.squareRoot()))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
