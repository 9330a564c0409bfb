import MoontuneJSON
/// The live train_step answer:
/// `{"step", "applied", "kl", "router_kl", "grad_norm", "sft_loss", "reward_mean", "reward_std"}`.
///
/// - `kl`: mean over the step's keys of KL(policy after the step ‖ base policy): grows as training
///   moves the policy away from its base.
/// - `router_kl`: mean over the step's keys of KL(after ‖ before this step): how far this one
///   step moved it.
/// - `grad_norm`: mean over groups of the group's signal: an RL group's reward standard deviation
///   (it falls as a group's rewards converge), an SFT group's `1 − exp(−loss)`.
/// - `sft_loss`: mean SFT loss before the update, null without SFT groups.
/// - `reward_mean`, `reward_std`: over every RL reward of the step, null without RL groups.
package struct TrainStepReport {
    package var step: Int
    package var applied: Bool
    package var kls: [Double] = []
    package var routerKLs: [Double] = []
    package var groupSignals: [Double] = []
    package var sftLosses: [Double] = []
    package var rewards: [Double] = []

    package static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    package static func standardDeviation(_ values: [Double]) -> Double {
        guard let mean = mean(values) else { return 0 }
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
    }

    package var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .canonicalDouble(round6($0)) } ?? .null }
        guard applied else {
            return .members([("step", .int(step)), ("applied", .bool(false)), ("kl", .null), ("router_kl", .null),
                            ("grad_norm", .null), ("sft_loss", .null), ("reward_mean", .null), ("reward_std", .null)])
        }
        return .members([("step", .int(step)), ("applied", .bool(true)), ("kl", number(Self.mean(kls))),
                        ("router_kl", number(Self.mean(routerKLs))), ("grad_norm", number(Self.mean(groupSignals))),
                        ("sft_loss", number(Self.mean(sftLosses))), ("reward_mean", number(Self.mean(rewards))),
                        ("reward_std", number(rewards.isEmpty ? nil : Self.standardDeviation(rewards)))])
    }
}
