/// The reference's reward definitions for server-computed rewards. moontune re-implements them
/// for `reward.source: local`, so these must stay exactly as documented in docs/simulator.md.
package enum Rewards {
    /// Distance at which a predicted point stops earning anything.
    package static let pointRadius = 0.2

    /// Point against truth points: for each predicted point the best `max(0, 1 − d/0.2)` over
    /// the truth points; the mean over predicted points; 0 when nothing is predicted.
    package static func point(_ predicted: [SimPoint], truth: [SimPoint]) -> Double {
        guard !predicted.isEmpty else { return 0 }
        let scores = predicted.map { guess in
            truth.map { target in
                let distance = ((guess.x - target.x) * (guess.x - target.x) + (guess.y - target.y) * (guess.y - target.y)).squareRoot()
                return max(0, 1 - distance / pointRadius)
            }.max() ?? 0
        }
        return scores.reduce(0, +) / Double(scores.count)
    }

    /// Point against truth boxes: the fraction of predicted points inside any box (edges count).
    package static func containment(_ predicted: [SimPoint], boxes: [SimBox]) -> Double {
        guard !predicted.isEmpty else { return 0 }
        let inside = predicted.filter { point in boxes.contains { $0.contains(point) } }.count
        return Double(inside) / Double(predicted.count)
    }

    /// Detect: F1 of greedy matching at IoU ≥ 0.5, pairs taken by IoU descending.
    package static func detection(_ predicted: [SimBox], truth: [SimBox]) -> Double {
        if predicted.isEmpty && truth.isEmpty { return 1 }
        if predicted.isEmpty || truth.isEmpty { return 0 }
        var pairs: [(iou: Double, pred: Int, truth: Int)] = []
        for (p, box) in predicted.enumerated() {
            for (t, target) in truth.enumerated() {
                let overlap = box.iou(target)
                if overlap >= 0.5 { pairs.append((overlap, p, t)) }
            }
        }
        // Ties broken by index so the matching is deterministic.
        pairs.sort { ($0.iou, -$0.pred, -$0.truth) > ($1.iou, -$1.pred, -$1.truth) }
        var usedPred = Set<Int>(), usedTruth = Set<Int>()
        for pair in pairs where !usedPred.contains(pair.pred) && !usedTruth.contains(pair.truth) {
            usedPred.insert(pair.pred)
            usedTruth.insert(pair.truth)
        }
        let truePositives = Double(usedPred.count)
        guard truePositives > 0 else { return 0 }
        let precision = truePositives / Double(predicted.count)
        let recall = truePositives / Double(truth.count)
        return 2 * precision * recall / (precision + recall)
    }

    package static func reward(skill: SimSkill, output: PolicyOutput, truth: SimGroundTruth) -> Double {
        switch (output, truth) {
        case (.points(let points), .points(let targets)): point(points, truth: targets)
        case (.points(let points), .boxes(let boxes)): containment(points, boxes: boxes)
        case (.boxes(let boxes), .boxes(let targets)): detection(boxes, truth: targets)
        default: 0
        }
    }
}
