/// SFT (a group's target taught directly) and the divergences the live train_step answer
/// reports.
///
/// SFT moves a key toward its target: a point's mean toward the target point nearest to it
/// and its spreads down; a detect slot matched to each target box toward that box, matched
/// slots toward present and the others toward absent; a query's logits by the gradient of the
/// target's cross-entropy (an answer not among the key's candidates is added to them). The loss
/// is the negative log-likelihood of the target before the update, coordinates counted in bins
/// of 0.01 as a coordinate tokenizer would, so it is never negative and falls as the key learns.
extension Policy {
    /// The target's loss under the current policy.
    package func supervisedLoss(_ call: SkillCall, target: SFTTarget) -> Double {
        switch (keyPolicy(for: call), target) {
        case (.point(let policy), .points(let points)): policy.targetLoss(points)
        case (.point(let policy), .boxes(let boxes)): policy.targetLoss(boxes.map(\.center))
        case (.detect(let policy), .boxes(let boxes)): policy.targetLoss(boxes)
        case (.query(let policy), .answer(let answer, _)):
            policy.targetLoss(QueryPolicy.candidates(question: call.prompt, seed: seed, key: call.key), target: answer)
        default: 0
        }
    }

    /// One SFT update toward `target`, with step size `step` (as RL's).
    package mutating func learnTarget(_ call: SkillCall, target: SFTTarget, step: Double) {
        guard step > 0 else { return }
        switch (keyPolicy(for: call), target) {
        case (.point(var policy), .points(let points)):
            policy.learnTarget(points, step: step)
            trainedKey(call.key, .point(policy))
        case (.point(var policy), .boxes(let boxes)):
            policy.learnTarget(boxes.map(\.center), step: step)
            trainedKey(call.key, .point(policy))
        case (.detect(var policy), .boxes(let boxes)):
            policy.learnTarget(boxes, step: step)
            trainedKey(call.key, .detect(policy))
        case (.query(var policy), .answer(let answer, _)):
            policy.learnTarget(QueryPolicy.candidates(question: call.prompt, seed: seed, key: call.key), target: answer, step: step)
            trainedKey(call.key, .query(policy))
        default: break
        }
    }

    /// KL(this policy ‖ `other`) at `call`'s key.
    package func divergence(_ call: SkillCall, from other: Policy) -> Double {
        switch (keyPolicy(for: call), other.keyPolicy(for: call)) {
        case (.point(let mine), .point(let theirs)): mine.divergence(from: theirs)
        case (.detect(let mine), .detect(let theirs)): mine.divergence(from: theirs)
        case (.query(let mine), .query(let theirs)):
            mine.divergence(from: theirs, QueryPolicy.candidates(question: call.prompt, seed: seed, key: call.key))
        default: 0
        }
    }
}

/// Divergence and likelihood helpers shared by the skills.
package enum Divergence {
    /// The width of a coordinate bin for likelihoods.
    package static let bin = 0.01

    /// KL(N(μ1, σ1²I) ‖ N(μ0, σ0²I)) in two dimensions.
    package static func gaussian2(dx: Double, dy: Double, sigma1: Double, sigma0: Double) -> Double {
        let s1 = max(sigma1, 1e-9), s0 = max(sigma0, 1e-9)
        return max(0, 2 * log(s0 / s1) + (2 * s1 * s1 + dx * dx + dy * dy) / (2 * s0 * s0) - 1)
    }

    /// KL(Bernoulli(p) ‖ Bernoulli(q)).
    package static func bernoulli(_ p: Double, _ q: Double) -> Double {
        let p = min(1 - 1e-9, max(1e-9, p)), q = min(1 - 1e-9, max(1e-9, q))
        return max(0, p * log(p / q) + (1 - p) * log((1 - p) / (1 - q)))
    }

    /// The probability of one 2-D bin at distance² `d2` from the mean of N(μ, σ²I).
    package static func binProbability(d2: Double, sigma: Double) -> Double {
        let s = max(sigma, 1e-9)
        return min(1, exp(-d2 / (2 * s * s)) / (2 * Double.pi * s * s) * bin * bin)
    }
}

extension SimBox {
    package var center: SimPoint { SimPoint(x: (xMin + xMax) / 2, y: (yMin + yMax) / 2) }
}

extension PointPolicy {
    package func nearest(_ targets: [SimPoint]) -> SimPoint? {
        targets.min { ($0.x - meanX) * ($0.x - meanX) + ($0.y - meanY) * ($0.y - meanY)
            < ($1.x - meanX) * ($1.x - meanX) + ($1.y - meanY) * ($1.y - meanY) }
    }

    package func targetLoss(_ targets: [SimPoint]) -> Double {
        guard let target = nearest(targets) else { return 0 }
        let d2 = (target.x - meanX) * (target.x - meanX) + (target.y - meanY) * (target.y - meanY)
        let probability = (1 - explore) * Divergence.binProbability(d2: d2, sigma: sigma) + explore * Divergence.bin * Divergence.bin
        return -log(max(probability, 1e-300))
    }

    package mutating func learnTarget(_ targets: [SimPoint], step: Double) {
        guard let target = nearest(targets) else { return }
        meanX = clamp01(meanX + step * (target.x - meanX))
        meanY = clamp01(meanY + step * (target.y - meanY))
        sigma = max(Self.sigmaRange.lowerBound, sigma * (1 - step / 2))
        explore = max(Self.exploreFloor, explore * (1 - step))
    }

    package func divergence(from other: PointPolicy) -> Double {
        Divergence.gaussian2(dx: meanX - other.meanX, dy: meanY - other.meanY, sigma1: sigma, sigma0: other.sigma)
            + Divergence.bernoulli(explore, other.explore)
    }
}

extension DetectPolicy {
    /// Target boxes matched to slots greedily, nearest centres first: slot → box.
    package func match(_ targets: [SimBox]) -> [Int: SimBox] {
        var pairs: [(distance: Double, slot: Int, box: Int)] = []
        for (slotIndex, slot) in slots.enumerated() {
            for (boxIndex, box) in targets.enumerated() {
                let c = box.center
                pairs.append(((c.x - slot.centerX) * (c.x - slot.centerX) + (c.y - slot.centerY) * (c.y - slot.centerY), slotIndex, boxIndex))
            }
        }
        pairs.sort { ($0.distance, $0.slot, $0.box) < ($1.distance, $1.slot, $1.box) }
        var matched: [Int: SimBox] = [:], usedBoxes = Set<Int>()
        for pair in pairs where matched[pair.slot] == nil && !usedBoxes.contains(pair.box) {
            matched[pair.slot] = targets[pair.box]
            usedBoxes.insert(pair.box)
        }
        return matched
    }

    private static func logSize(_ box: SimBox) -> (Double, Double) {
        (log(max(box.xMax - box.xMin, 0.01)), log(max(box.yMax - box.yMin, 0.01)))
    }

    package func targetLoss(_ targets: [SimBox]) -> Double {
        let matched = match(targets)
        var loss = 0.0
        for (index, slot) in slots.enumerated() {
            let present = sigmoid(slot.presence)
            guard let box = matched[index] else {
                loss -= log(max(1 - present, 1e-300))
                continue
            }
            let c = box.center, (lw, lh) = Self.logSize(box)
            let dc = (c.x - slot.centerX) * (c.x - slot.centerX) + (c.y - slot.centerY) * (c.y - slot.centerY)
            let ds = (lw - slot.logWidth) * (lw - slot.logWidth) + (lh - slot.logHeight) * (lh - slot.logHeight)
            loss -= log(max(present, 1e-300))
            loss -= log(max(Divergence.binProbability(d2: dc, sigma: slot.centerSigma), 1e-300))
            loss -= log(max(Divergence.binProbability(d2: ds, sigma: slot.sizeSigma), 1e-300))
        }
        return loss
    }

    package mutating func learnTarget(_ targets: [SimBox], step: Double) {
        let matched = match(targets)
        for index in slots.indices {
            var slot = slots[index]
            let present = sigmoid(slot.presence)
            if let box = matched[index] {
                let c = box.center, (lw, lh) = Self.logSize(box)
                slot.centerX = clamp01(slot.centerX + step * (c.x - slot.centerX))
                slot.centerY = clamp01(slot.centerY + step * (c.y - slot.centerY))
                slot.logWidth = min(0, max(log(0.01), slot.logWidth + step * (lw - slot.logWidth)))
                slot.logHeight = min(0, max(log(0.01), slot.logHeight + step * (lh - slot.logHeight)))
                slot.centerSigma = max(0.01, slot.centerSigma * (1 - step / 2))
                slot.sizeSigma = max(0.02, slot.sizeSigma * (1 - step / 2))
                slot.presence = min(6, slot.presence + 4 * step * (1 - present))
            } else {
                slot.presence = max(-6, slot.presence - 4 * step * present)
            }
            slots[index] = slot
        }
    }

    package func divergence(from other: DetectPolicy) -> Double {
        zip(slots, other.slots).reduce(0) { total, pair in
            let (mine, theirs) = pair
            return total + Divergence.bernoulli(sigmoid(mine.presence), sigmoid(theirs.presence))
                + Divergence.gaussian2(dx: mine.centerX - theirs.centerX, dy: mine.centerY - theirs.centerY,
                                       sigma1: mine.centerSigma, sigma0: theirs.centerSigma)
                + Divergence.gaussian2(dx: mine.logWidth - theirs.logWidth, dy: mine.logHeight - theirs.logHeight,
                                       sigma1: mine.sizeSigma, sigma0: theirs.sizeSigma)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
