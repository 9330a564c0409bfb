import Foundation

/// `train.lr_schedule`: the learning rate of every step, a pure function of the config and the
/// step, so it is the same after any number of kills and resumes.
///
/// With lr the configured rate, S = `train.steps`, W = `warmup_steps` and F = `final_lr`
/// (default 0.1 × lr), the lr of step k (1-based) is lr·k/W while k ≤ W; after that, with
/// t = (k − W)/(S − W): lr (constant), lr − (lr − F)·t (linear), or F + (lr − F)·(1 + cos πt)/2
/// (cosine).
public struct LRSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case constant, linear, cosine
    }

    public var kind: Kind = .constant
    public var warmupSteps: Int = 0
    /// nil: 0.1 × lr.
    public var finalLR: Double?

    public init(kind: Kind = .constant, warmupSteps: Int = 0, finalLR: Double? = nil) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.finalLR = finalLR
    }

    public var isDefault: Bool { self == LRSchedule() }

    /// The lr of step `k` (1-based) of a job of `steps` steps whose configured lr is `lr`.
    public func lr(step k: Int, of steps: Int, base lr: Double) -> Double {
        let warmup = max(0, warmupSteps)
        if warmup > 0, k <= warmup { return lr * Double(k) / Double(warmup) }
        guard steps > warmup else { return lr }
        let t = min(1, max(0, Double(k - warmup) / Double(steps - warmup)))
        let final = finalLR ?? 0.1 * lr
        switch kind {
        case .constant: return lr
        case .linear: return lr - (lr - final) * t
        case .cosine: return final + (lr - final) * (1 + cos(Double.pi * t)) / 2
        }
    }
}

extension TrainConfig {
    /// The lr sent with step `k`.
    public func lr(atStep k: Int) -> Double {
        lrSchedule.lr(step: k, of: steps, base: lr)
    }
}
