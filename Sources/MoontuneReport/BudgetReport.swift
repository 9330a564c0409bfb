import Foundation
import MoontuneStore

/// What a job has spent of its `budget`, and what is left, from the record alone: the rollouts of
/// its applied steps and recorded evals, and its running time over every run.
package struct BudgetReport: Encodable, Sendable, Equatable {
    package var maxRollouts: Int?
    package var rolloutsSpent: Int
    package var rolloutsLeft: Int?
    package var maxHours: Double?
    package var hoursSpent: Double
    package var hoursLeft: Double?

    package enum CodingKeys: String, CodingKey {
        case maxRollouts = "max_rollouts", rolloutsSpent = "rollouts_spent", rolloutsLeft = "rollouts_left"
        case maxHours = "max_hours", hoursSpent = "hours_spent", hoursLeft = "hours_left"
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxRollouts, forKey: .maxRollouts)
        try container.encode(rolloutsSpent, forKey: .rolloutsSpent)
        try container.encode(rolloutsLeft, forKey: .rolloutsLeft)
        try container.encode(maxHours, forKey: .maxHours)
        try container.encode(hoursSpent, forKey: .hoursSpent)
        try container.encode(hoursLeft, forKey: .hoursLeft)
    }

    /// Nil when the job's recorded config sets no budget.
    /// `extraGroupsTried`: groups the steps tried beyond their own batch
    /// (`train.skip_constant_groups`), whose rollouts count too.
    package static func from(job: JobRecord, appliedSteps: Int, evals: [EvalRecord], now: Int64,
                             extraGroupsTried: Int = 0) -> BudgetReport? {
        guard let config = try? JSONSerialization.jsonObject(with: Data(job.configJSON.utf8)) as? [String: Any],
              let budget = config["budget"] as? [String: Any] else { return nil }
        let maxRollouts = (budget["max_rollouts"] as? NSNumber)?.intValue
        let maxHours = (budget["max_hours"] as? NSNumber)?.doubleValue
        guard maxRollouts != nil || maxHours != nil else { return nil }
        let train = config["train"] as? [String: Any] ?? [:]
        let groups = (train["groups_per_step"] as? NSNumber)?.intValue ?? 0
        let rollouts = (train["rollouts_per_group"] as? NSNumber)?.intValue ?? 0
        let sft = (train["sft_steps"] as? NSNumber)?.intValue ?? 0
        let spent = max(0, appliedSteps - min(appliedSteps, sft)) * groups * rollouts + extraGroupsTried * rollouts
            + evals.reduce(0) { $0 + $1.count }
        var runningMs = job.runningMs ?? 0
        if job.state == .running, let started = job.startedAtMs { runningMs += max(0, now - started) }
        let hours = Double(runningMs) / 3_600_000
        return BudgetReport(maxRollouts: maxRollouts, rolloutsSpent: spent, rolloutsLeft: maxRollouts.map { max(0, $0 - spent) },
                            maxHours: maxHours, hoursSpent: hours, hoursLeft: maxHours.map { max(0, $0 - hours) })
    }

    /// `train.groups_per_step` of the job's recorded config (0 when unknown).
    package static func groupsPerStep(_ job: JobRecord) -> Int {
        guard let config = try? JSONSerialization.jsonObject(with: Data(job.configJSON.utf8)) as? [String: Any],
              let train = config["train"] as? [String: Any] else { return 0 }
        return (train["groups_per_step"] as? NSNumber)?.intValue ?? 0
    }

    /// One line for the human `status`.
    package var line: String {
        var parts: [String] = []
        if let maxRollouts {
            parts.append("rollouts \(rolloutsSpent) of \(maxRollouts) (\(rolloutsLeft ?? 0) left)")
        }
        if let maxHours {
            parts.append(String(format: "time %.2f h of %.2f h (%.2f h left)", hoursSpent, maxHours, hoursLeft ?? 0))
        }
        return parts.joined(separator: ", ")
    }
}
