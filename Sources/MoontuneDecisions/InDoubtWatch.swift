/// What to do about a train_step whose outcome is unknown — its answer was lost, it timed out,
/// a gateway failed, or the runner died after sending it — each time the server's step is read.
///
/// The server may still be working on such a request: the live service runs train steps for tens
/// of seconds to minutes, and keeps running one the client gave up on. So "it never landed" is
/// concluded only once `deadlineMs` (the send time plus `api.in_doubt_wait_s`) has passed; before
/// that the server's step is read again, backing off, so that a step that lands is recorded
/// within seconds of landing. A pure value: every decision is a function of its inputs.
package struct InDoubtWatch: Sendable, Equatable {
    /// The step in doubt (the record's last applied step + 1).
    package let step: Int
    /// The record's last applied step.
    package let lastApplied: Int
    /// No "never landed" before this (milliseconds since the epoch).
    package let deadlineMs: Int64
    /// Reads of the server's step so far.
    package private(set) var reads = 0
    /// The record's skipped steps up to `lastApplied`, which the server never saw: its steps are
    /// the record's less these.
    package let skipped: Int

    package init(step: Int, lastApplied: Int, sentAtMs: Int64, waitMs: Int64, skipped: Int = 0) {
        self.step = step
        self.lastApplied = lastApplied
        self.deadlineMs = sentAtMs + max(0, waitMs)
        self.skipped = skipped
    }

    package enum Action: Sendable, Equatable {
        /// The step landed.
        case markApplied
        /// The wait is over and the server never got past the last applied step: drop the intent;
        /// the step runs again with fresh rollouts (the same examples: the data order holds).
        case discardIntent
        /// Still in the window and not landed: read the server's step again after this long.
        case readAgain(afterMs: Int64)
        /// The server is elsewhere (behind, or ahead of anything the record explains): the caller
        /// decides as reconciliation does, without guessing.
        case inconsistent(ReconcileOutcome)
    }

    /// The backoff between reads: 0.5 s, 1 s, 2 s, ... up to 10 s, never past the deadline, so the
    /// last read falls on it.
    static func delayMs(afterReads reads: Int) -> Int64 {
        let exponent = min(max(reads - 1, 0), 10)
        return min(500 << exponent, 10_000)
    }

    /// Decides after reading `serverStep` at `nowMs`.
    package mutating func decide(serverStep: Int, nowMs: Int64) -> Action {
        reads += 1
        switch ReconcileOutcome.decide(lastApplied: lastApplied - skipped, pendingIntent: step - skipped, serverStep: serverStep) {
        case .markApplied:
            return .markApplied
        case .discardIntent:
            guard nowMs < deadlineMs else { return .discardIntent }
            return .readAgain(afterMs: min(Self.delayMs(afterReads: reads), deadlineMs - nowMs))
        case let other:
            return .inconsistent(other)
        }
    }

    /// How long is left, for messages.
    package func remainingMs(nowMs: Int64) -> Int64 { max(0, deadlineMs - nowMs) }
}

/// A duration in words for messages: "45 s", "14 min", "2 h 5 min".
func spokenDuration(ms: Int64) -> String {
    let seconds = Int((Double(ms) / 1000).rounded(.up))
    if seconds < 120 { return "\(seconds) s" }
    let minutes = Int((Double(seconds) / 60).rounded())
    if minutes < 120 { return "\(minutes) min" }
    return "\(minutes / 60) h \(minutes % 60) min"
}
