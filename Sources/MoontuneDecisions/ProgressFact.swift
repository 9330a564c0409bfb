import MoontuneStore

/// Every change to a job's progress, as a value: the closed set of facts the loop records.
///
/// `ProgressLedger.commit` (MoontuneLoop) is the only way one happens: it writes the fact in one
/// store transaction, then applies it to `LoopStateMachine` (`apply`), which returns the effects
/// to run. So the database and the machine's `progress` change in one place, in one order
/// (recorded first), and the gatherers' view of the applied step is derived from the machine.
public enum ProgressFact: Sendable, Equatable {
    /// The intent to send step `step`'s train_step, committed before it is sent.
    case intentRecorded(StepIntent)
    /// The step landed: from its answer, or found by reconciliation (`reconciled`).
    case stepApplied(step: Int, metrics: StepMetrics, reconciled: Bool)
    /// `train.skip_constant_groups`: no group had signal; nothing was sent. Done, as an applied
    /// step is, in one write and with no intent.
    case stepSkipped(step: Int, exampleIDs: String, figures: StepFigures)
    /// The step certainly did not land (refused, never delivered, declined, or the server's own
    /// answer said so): its intent goes, and it runs again.
    case intentDiscarded(step: Int)
    /// The step was concluded "never landed" by waiting out its in-doubt window: its intent goes
    /// with the final check it calls for (issue 20).
    case concludedNotLanded(step: Int, checkAfterMs: Int64)
    /// The final check found the server where the record says.
    case lateLandingCleared
    /// A checkpoint the server saved, under the record's step for it.
    case checkpointRecorded(CheckpointSave)
    /// A checkpoint's deletion is about to be sent.
    case deletionStarted(step: Int)
    /// Deleted, or found gone from the server.
    case checkpointDeleted(step: Int)
    /// An eval and its examples.
    case evalRecorded(EvalRecord, examples: [EvalExampleRecord])
    /// `--rewind-to-server`: every step record after `step` goes (a pending intent with them),
    /// and the evals after it.
    case rewound(to: Int)

    /// The fact's name, as logs and the store's fakes call it.
    public var name: String {
        switch self {
        case .intentRecorded: "intentRecorded"
        case .stepApplied: "stepApplied"
        case .stepSkipped: "stepSkipped"
        case .intentDiscarded: "intentDiscarded"
        case .concludedNotLanded: "concludedNotLanded"
        case .lateLandingCleared: "lateLandingCleared"
        case .checkpointRecorded: "checkpointRecorded"
        case .deletionStarted: "deletionStarted"
        case .checkpointDeleted: "checkpointDeleted"
        case .evalRecorded: "evalRecorded"
        case .rewound: "rewound"
        }
    }
}

/// What a step's intent records.
public struct StepIntent: Sendable, Equatable {
    public var step: Int
    /// The examples of its groups, as a JSON array of ids.
    public var exampleIDs: String
    public var mode: StepMode
    public var lr: Double?
    /// The groups tried, kept and dropped (`train.skip_constant_groups`).
    public var groups: StepFigures?

    public init(step: Int, exampleIDs: String, mode: StepMode, lr: Double?, groups: StepFigures?) {
        self.step = step
        self.exampleIDs = exampleIDs
        self.mode = mode
        self.lr = lr
        self.groups = groups
    }
}

/// A checkpoint as the record keeps it.
public struct CheckpointSave: Sendable, Equatable {
    /// The record's step.
    public var step: Int
    public var checkpointID: String
    public var kind: CheckpointKind
    public var expiresAtMs: Int64?
    /// The server's step, when it differs from the record's (after skipped steps).
    public var serverStep: Int?

    public init(step: Int, checkpointID: String, kind: CheckpointKind, expiresAtMs: Int64?, serverStep: Int?) {
        self.step = step
        self.checkpointID = checkpointID
        self.kind = kind
        self.expiresAtMs = expiresAtMs
        self.serverStep = serverStep
    }
}

/// What the store holds about progress, read at start-up and after a rewind.
package struct ProgressSnapshot: Sendable, Equatable {
    package var lastApplied: Int
    package var pendingIntent: StepRecord?
    package var checkpoints: [CheckpointRecord]
    package var evals: [EvalRecord]
    package var skippedSteps: [Int]
    /// Groups the applied steps tried beyond their own batch.
    package var extraGroupsTried: Int
    package var lateLandingCheck: LateLandingCheck?

    package init(lastApplied: Int, pendingIntent: StepRecord?, checkpoints: [CheckpointRecord], evals: [EvalRecord],
                 skippedSteps: [Int], extraGroupsTried: Int, lateLandingCheck: LateLandingCheck?) {
        self.lastApplied = lastApplied
        self.pendingIntent = pendingIntent
        self.checkpoints = checkpoints
        self.evals = evals
        self.skippedSteps = skippedSteps
        self.extraGroupsTried = extraGroupsTried
        self.lateLandingCheck = lateLandingCheck
    }
}

/// What the machine asks its driver to do after a fact was applied (or the record loaded), in
/// the style of async-http-client's connection pool state machine. The timers it decides on are
/// `LoopTimer`s, returned by the decisions that wait.
package enum ProgressEffect: Sendable, Equatable {
    /// The policy rollouts may now be sampled from is the one after `step`: release the gatherers
    /// waiting for it, or hold them back (after a rewind the step goes down).
    case rolloutPolicy(step: Int)
    /// The record moved back: read it again from the store (`ProgressSnapshot`).
    case reload
}

/// A wait the machine decided on: the driver shows it (log and `status`) and sleeps until
/// `fireAtMs`; a graceful stop ends it at once, and what it waited for stays recorded.
package struct LoopTimer: Sendable, Equatable {
    package enum Purpose: Sendable, Equatable {
        /// Read the server's step again while `step` is in doubt; its window ends at `deadlineMs`.
        case inDoubt(step: Int, sentAtMs: Int64, deadlineMs: Int64)
        /// The final check before the job ends (issue 20) for a late landing of `step`.
        case finalCheck(step: Int)
    }

    package var purpose: Purpose
    /// When it fires (milliseconds since the epoch).
    package var fireAtMs: Int64

    package init(_ purpose: Purpose, fireAtMs: Int64) {
        self.purpose = purpose
        self.fireAtMs = fireAtMs
    }
}
