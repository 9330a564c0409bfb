/// What a 2xx train_step answer means for step k. The reference answers `{}`: the step was
/// applied, and nothing more is known. The live service answers `step` (the finetune's step after
/// the call) and `applied`, which let moontune check the record against the server on every step.
package enum TrainAnswer: Sendable, Equatable {
    /// Applied; `serverStep` when the answer said it (and it is k).
    case applied(serverStep: Int?)
    /// `applied: false` and the server still at k − 1: it did not advance. Nothing was applied;
    /// the record drops the intent and the step runs again with fresh rollouts of the same
    /// examples (so the record's step k and the server's step k stay the same thing).
    case declined
    /// The server is not where one applied step takes it: ahead (a step applied twice, or another
    /// client training this finetune) or behind (restored from an older checkpoint). The job stops
    /// at once, failed, naming both steps; it is never recorded completed over this.
    case serverElsewhere(expected: Int, server: Int, applied: Bool)

    /// - Parameters:
    ///   - k: the step sent (the record's last applied + 1).
    ///   - step: the answer's `step`, if any.
    ///   - applied: the answer's `applied`, if any.
    package static func decide(k: Int, step: Int?, applied: Bool?) -> TrainAnswer {
        if applied == false {
            guard let step, step != k - 1 else { return .declined }
            return .serverElsewhere(expected: k - 1, server: step, applied: false)
        }
        guard let step else { return .applied(serverStep: nil) }
        return step == k ? .applied(serverStep: step) : .serverElsewhere(expected: k, server: step, applied: true)
    }
}

/// How many times in a row the server may decline the same step before the job stops.
let maxDeclinesPerStep = 3
