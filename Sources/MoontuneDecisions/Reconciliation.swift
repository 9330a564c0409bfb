/// What the server's step says about a step whose outcome is unknown, or about the record as a
/// whole at start-up. A pure function: the server's answer is never guessed around.
package enum ReconcileOutcome: Sendable, Equatable {
    /// The server is where the record says. Nothing to do.
    case consistent
    /// The pending step landed: mark it applied.
    case markApplied(step: Int)
    /// The pending step never landed: drop the intent and run it again with fresh rollouts.
    case discardIntent(step: Int)
    /// The server is behind the record (restored from an older checkpoint?).
    case serverBehind(recorded: Int, server: Int)
    /// The server is ahead of anything the record can explain.
    case serverAhead(recorded: Int, server: Int)

    /// - Parameters:
    ///   - lastApplied: the highest step recorded applied.
    ///   - pendingIntent: the step whose train_step may have been sent, if any (lastApplied + 1).
    ///   - serverStep: the server's current step, as checkpoint save reports it (0 when none).
    package static func decide(lastApplied: Int, pendingIntent: Int?, serverStep: Int) -> ReconcileOutcome {
        if let pending = pendingIntent {
            if serverStep == pending { return .markApplied(step: pending) }
            if serverStep == pending - 1 && serverStep == lastApplied { return .discardIntent(step: pending) }
            if serverStep < lastApplied { return .serverBehind(recorded: lastApplied, server: serverStep) }
            return .serverAhead(recorded: max(lastApplied, pending), server: serverStep)
        }
        if serverStep == lastApplied { return .consistent }
        if serverStep < lastApplied { return .serverBehind(recorded: lastApplied, server: serverStep) }
        return .serverAhead(recorded: lastApplied, server: serverStep)
    }
}
