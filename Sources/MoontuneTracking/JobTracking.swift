import Foundation
import Logging
import MoontuneConfig
import MoontuneStore

/// The job's trackers (`tracking` in the config), run beside the job as child tasks of it.
public enum JobTracking {
    /// Runs `body` (the job's run) with the config's trackers delivering beside it; once `body`
    /// returns, they deliver what is left and the job's end, for a bounded time, then this returns
    /// what `body` returned. Without trackers it runs `body` alone.
    public static func alongside<Outcome: Sendable>(config: JobConfig, store: ProgressStore, jobID: Int64, databasePath: String,
                                                    environment: [String: String], logger: Logger,
                                                    _ body: () async -> Outcome) async -> Outcome {
        let trackers = makeTrackers(config: config, environment: environment)
        guard !trackers.isEmpty else { return await body() }
        let job = TrackedJob(jobID: jobID, name: config.name, config: config, store: store, databasePath: databasePath)
        let ending = JobEnding()
        return await withTaskGroup(of: Void.self) { group in
            for tracker in trackers {
                let delivery = TrackerDelivery(tracker: tracker, job: job, ending: ending, logger: logger)
                group.addTask { await delivery.run() }
            }
            let outcome = await body()
            ending.end()
            await group.waitForAll()
            return outcome
        }
    }

    /// For a job that has already ended: delivers what its trackers still lack (points, the end),
    /// if anything, for a bounded time.
    public static func deliverRemaining(config: JobConfig, store: ProgressStore, job: JobRecord, databasePath: String,
                                        environment: [String: String], logger: Logger) async {
        guard let jobID = job.id else { return }
        // Names and targets only: a tracker holds a client, which must be shut down once made.
        let trackers = targets(config: config)
        guard !trackers.isEmpty else { return }
        let statuses = (try? await store.trackerStatuses(jobID: jobID)) ?? []
        let states = (try? await store.trackerStates(jobID: jobID)) ?? []
        let behind = trackers.contains { tracker in
            guard let state = states.first(where: { $0.tracker == tracker.name && $0.target == tracker.target }),
                  let status = statuses.first(where: { $0.tracker == tracker.name }) else { return true }
            return status.backlog > 0 || state.endedState != job.state.rawValue
        }
        guard behind else { return }
        _ = await alongside(config: config, store: store, jobID: jobID, databasePath: databasePath, environment: environment,
                            logger: logger) { () }
    }

    /// The configured trackers' names and targets, as `Tracker.name` and `.target` give them.
    static func targets(config: JobConfig) -> [(name: String, target: String)] {
        var out: [(name: String, target: String)] = []
        if let tensorboard = config.tracking?.tensorboard {
            out.append(("tensorboard", TensorBoardTracker.folder(logdir: tensorboard.logdir, jobName: config.name).path))
        }
        if let mlflow = config.tracking?.mlflow { out.append(("mlflow", MLflowTracker.target(mlflow))) }
        return out
    }

    static func makeTrackers(config: JobConfig, environment: [String: String]) -> [any Tracker] {
        var trackers: [any Tracker] = []
        if let tensorboard = config.tracking?.tensorboard {
            trackers.append(TensorBoardTracker(logdir: tensorboard.logdir, jobName: config.name))
        }
        if let mlflow = config.tracking?.mlflow {
            trackers.append(MLflowTracker(settings: mlflow, environment: environment))
        }
        return trackers
    }
}
