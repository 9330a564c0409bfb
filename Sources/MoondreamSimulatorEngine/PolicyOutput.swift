/// What a policy produced for one request: the skill's output plus what the learning rule needs
/// to know about how it was drawn (kept in the rollout's opaque metadata).
package enum PolicyOutput: Sendable, Equatable {
    case points([SimPoint])
    case boxes([SimBox])
    case answer(String)
}

/// One draw from a key's policy.
package struct PolicySample: Sendable {
    package var output: PolicyOutput
    /// The answer's vocabulary word (query only), for the rollout's output text.
    package var word: String?
    /// Whether a point came from the uniform exploration branch (point only).
    package var explored: Bool = false
    /// The slot each output box came from (detect only).
    package var slots: [Int] = []
    /// Log-probability of the draw under the policy, as a real server would report it.
    package var logprob: Double
}

/// Learning rule constants shared by the skills.
package enum Learning {
    /// The effective step size: `min(1, lr · 250)`, so the API's default lr of 0.002 moves a key
    /// half way toward its better rollouts per step.
    package static func stepSize(lr: Double) -> Double { min(1, max(0, lr * 250)) }

    /// Group-relative advantages `r_i − mean(r)`, normalized by their absolute sum; nil when
    /// every reward is equal (no signal, no move).
    package static func weights(rewards: [Double]) -> [Double]? {
        guard !rewards.isEmpty else { return nil }
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        let advantages = rewards.map { $0 - mean }
        let scale = advantages.reduce(0) { $0 + abs($1) }
        guard scale > 1e-12 else { return nil }
        return advantages.map { $0 / scale }
    }
}

package func clamp01(_ value: Double) -> Double { min(1, max(0, value)) }

package func sigmoid(_ value: Double) -> Double { 1 / (1 + exp(-value)) }

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
