import Foundation
import Logging
import MoondreamAPI
import MoontuneStore
import Synchronization

/// Set once the job's run is over: the trackers deliver what is left, then the job's end.
package final class JobEnding: Sendable {
    private let ended = Mutex<ContinuousClock.Instant?>(nil)
    package init() {}
    package func end() { ended.withLock { $0 = $0 ?? .now } }
    package var endedAt: ContinuousClock.Instant? { ended.withLock { $0 } }
}

/// Drives one tracker beside the run, as a child task of it: reads the record, delivers what the
/// tracker lacks in record order, and records how far it got. A failure never reaches training:
/// it is recorded (for `status`) and retried with backoff, and the backlog goes out in order once
/// the tracker answers again, in this run or the next. A refusal that retrying cannot change (an
/// MLflow 4xx: a bad token, a wrong path, a refused value) is recorded as the tracker's failure,
/// logged once, and ends delivery to that tracker for this run; the job's next run tries again
/// from the marks (the user fixed the config or the token), and clears the failure once the
/// tracker accepts delivery again.
///
/// A rewind (`run --rewind-to-server`) moves the marks back in the record; the loop sees it on
/// its next pass and opens the tracker again, which deals with the stale points first.
package struct TrackerDelivery: Sendable {
    package var tracker: any Tracker
    package var job: TrackedJob
    package var ending: JobEnding
    package var logger: Logger
    /// How often the record is read for new points.
    package var pollInterval: Duration = .milliseconds(500)
    package var firstBackoff: Duration = .milliseconds(500)
    package var maxBackoff: Duration = .seconds(8)
    /// After the job ended, how long to keep trying while nothing gets through; what is left then
    /// waits for the job's next run.
    package var drainPatience: Duration = .seconds(15)
    /// Applied steps per batch.
    package var batchSteps = 50

    package init(tracker: any Tracker, job: TrackedJob, ending: JobEnding, logger: Logger) {
        self.tracker = tracker
        self.job = job
        self.ending = ending
        self.logger = logger
    }

    package func run() async {
        var state: TrackerState?
        var opened = false
        var backoff = firstBackoff
        var lastError: String?
        var lastProgress = ContinuousClock.now
        let redactor = SecretRedactor.fromEnvironment()
        defer { logger.debug("tracker delivery over", metadata: ["tracker": "\(tracker.name)"]) }
        while !Task.isCancelled {
            if let endedAt = ending.endedAt, ContinuousClock.now - max(endedAt, lastProgress) > drainPatience {
                logger.warning("tracker not reached; the rest is delivered by the job's next run",
                               metadata: ["tracker": "\(tracker.name)", "error": "\(lastError ?? "none")"])
                break
            }
            let ended = ending.endedAt != nil
            do {
                var current = try await loadState(state)
                current.lastError = nil
                if let recorded = try await job.store.recordedTrackerState(jobID: job.jobID, tracker: tracker.name),
                   recorded.target == current.target, recorded.rewinds > current.rewinds {
                    // Rewound since the marks were read: the tracker deals with the stale points first.
                    ProgressStore.merge(rewindsOf: recorded, into: &current)
                    opened = false
                }
                if !opened {
                    current = try await tracker.open(current, job: job)
                    current.endedState = nil
                    current.rewindsApplied = current.rewinds
                    opened = true
                    state = current
                    try await job.store.saveTrackerState(current)
                }
                let record = try await job.store.job(id: job.jobID)
                if !current.setupDone, record?.finetuneID != nil || ended {
                    current = try await tracker.setup(current, job: job, finetuneID: record?.finetuneID)
                    current.setupDone = true
                    state = current
                    try await job.store.saveTrackerState(current)
                }
                let batch = try await TrackedPoints.batch(store: job.store, jobID: job.jobID, after: current, limit: batchSteps,
                                                          groupsPerStep: job.config.train.groupsPerStep,
                                                          rolloutsPerGroup: job.config.train.rolloutsPerGroup,
                                                          finetuneID: record?.finetuneID)
                if !batch.isEmpty {
                    current = try await tracker.deliver(batch, state: current, job: job)
                    TrackedPoints.advance(&current, past: batch)
                    // Delivered: the marks move now, even if recording them fails below.
                    state = current
                }
                current.updatedAtMs = ProgressStore.nowMs()
                // It accepts delivery again: a failure recorded by an earlier run is over.
                let recovered = current.failure != nil
                current.failure = nil
                if ended, batch.isEmpty, let final = record?.state, final != .running {
                    current = try await tracker.end(final, state: current, job: job)
                    current.endedState = final.rawValue
                    try await job.store.saveTrackerState(current)
                    state = current
                    break
                }
                if !batch.isEmpty || lastError != nil || recovered || state == nil { try await job.store.saveTrackerState(current) }
                state = current
                if lastError != nil {
                    logger.notice("tracker reached again", metadata: ["tracker": "\(tracker.name)"])
                }
                lastError = nil
                backoff = firstBackoff
                if !batch.isEmpty { lastProgress = .now; continue }
                try? await Task.sleep(for: pollInterval)
            } catch {
                if Task.isCancelled { break }
                if let refusal = error as? MLflowError, refusal.isPermanent {
                    await giveUp(refusal, redactor: redactor)
                    break
                }
                let message = redactor.redact(String(describing: error))
                if message != lastError {
                    logger.warning("tracker failed; retrying in the background", metadata: ["tracker": "\(tracker.name)", "error": "\(message)"])
                }
                lastError = message
                // What the failed call left in the tracker is read back before anything is sent again
                // (a write cut short, a batch applied whose answer was lost).
                opened = false
                try? await job.store.recordTrackerError(jobID: job.jobID, tracker: tracker.name, error: message, now: ProgressStore.nowMs())
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maxBackoff)
            }
        }
        await tracker.close()
    }

    /// A permanent refusal: recorded for `status` (endpoint, status, the server's code and words,
    /// never a credential), logged once, and nothing more is sent to this tracker this run.
    private func giveUp(_ refusal: MLflowError, redactor: SecretRedactor) async {
        let failure = TrackerFailure(endpoint: refusal.endpoint, status: refusal.status, errorCode: refusal.code,
                                     message: redactor.redact(refusal.message), atMs: ProgressStore.nowMs())
        logger.error("tracker refused the delivery; nothing more is sent to it until the job's next run (fix the config or credentials, then run the job again)",
                     metadata: ["tracker": "\(tracker.name)", "endpoint": "\(failure.endpoint)", "status": "\(failure.status)",
                                "error_code": "\(failure.errorCode ?? "none")", "message": "\(failure.message)"])
        do {
            // The row exists: the marks were read (and created) before any call.
            _ = try await job.store.trackerState(jobID: job.jobID, tracker: tracker.name, target: tracker.target, now: failure.atMs)
            try await job.store.recordTrackerError(jobID: job.jobID, tracker: tracker.name, error: redactor.redact(refusal.description),
                                                   now: failure.atMs)
            try await job.store.recordTrackerFailure(jobID: job.jobID, tracker: tracker.name, failure: failure)
        } catch {
            logger.warning("the tracker's failure could not be recorded", metadata: ["tracker": "\(tracker.name)", "error": "\(error)"])
        }
    }

    private func loadState(_ state: TrackerState?) async throws -> TrackerState {
        if let state { return state }
        return try await job.store.trackerState(jobID: job.jobID, tracker: tracker.name, target: tracker.target, now: ProgressStore.nowMs())
    }
}
