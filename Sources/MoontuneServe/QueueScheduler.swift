import Foundation
import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneLoop
import MoontuneStore
import ServiceLifecycle
import Synchronization

/// The queue of `serve`: every `pollInterval` it reads the database, starts the best waiting jobs
/// while fewer than `maxJobs` run (highest priority, then oldest in the queue), and turns a
/// recorded stop request into that job's graceful shutdown.
///
/// On the daemon's graceful shutdown it starts nothing more and waits for every running job to
/// stop (each job's service group follows the daemon's shutdown).
struct QueueScheduler: Service {
    let options: ServeOptions
    let store: ProgressStore
    let budget: SharedBudget
    let active: ActiveJobs
    let events: JobEvents
    /// The per-job series of /metrics, fed by the events of the jobs run here.
    let gauges: JobGauges
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { housekeeping in
            housekeeping.addTask { [budget, store] in
                // The budget and pace in force reach the database (for `status`) about once a
                // second. (Nothing is released here: waiters are woken by the event that frees them.)
                while !Task.isCancelled {
                    try? await store.recordKeyBudgets(budget.keys())
                    try? await store.recordKeyPaces(budget.paces(), source: "serve")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            await withTaskGroup(of: Void.self) { jobs in
                var reported: Set<String> = []
                // Cancelled (the HTTP server could not start, say): nothing more to start either.
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    do {
                        try await stopRequested()
                        for entry in try await startable(reported: &reported) {
                            start(entry, in: &jobs)
                        }
                    } catch {
                        logger.error("cannot read the queue", metadata: ["error": "\(error)"])
                    }
                    try? await Task.sleep(for: options.pollInterval)
                }
                logger.info("stopping every job", metadata: ["jobs": "\(active.count)"])
                await jobs.waitForAll()
            }
            housekeeping.cancelAll()
        }
    }

    /// The jobs to start now, best first, as many as there are free slots. A job another process
    /// holds (a `moontune run`) is skipped, said once.
    func startable(reported: inout Set<String>) async throws -> [QueueEntry] {
        var free = options.maxJobs - active.count
        guard free > 0 else { return [] }
        var chosen: [QueueEntry] = []
        for entry in try await store.queueCandidates() where !active.contains(entry.id) {
            guard free > 0 else { break }
            if JobLock.isHeld(databasePath: options.databasePath, jobName: entry.name) {
                if reported.insert(entry.name).inserted {
                    logger.notice("job is held by another runner; skipped", metadata: ["job": "\(entry.name)"])
                }
                continue
            }
            reported.remove(entry.name)
            chosen.append(entry)
            free -= 1
        }
        return chosen
    }

    /// Stop requests (`moontune stop`) of running jobs become their graceful shutdown; asked again
    /// every poll until the job has stopped.
    func stopRequested() async throws {
        for id in try await store.stopRequests(among: active.ids) {
            if let group = active.group(of: id) { await group.triggerGracefulShutdown() }
        }
    }

    func start(_ entry: QueueEntry, in jobs: inout TaskGroup<Void>) {
        let keyID = Self.keyID(apiKeyEnv: entry.apiKeyEnv, environment: options.environment)
        active.insert(ActiveJobs.Entry(entry: entry, keyID: keyID, group: nil, startedAtMs: ProgressStore.nowMs()))
        var jobLogger = logger
        jobLogger[metadataKey: "job"] = "\(entry.name)"
        let logger = jobLogger
        logger.info("starting job", metadata: ["priority": "\(entry.priority)", "key": "\(keyID)"])
        jobs.addTask { [options, store, budget, active, events, gauges] in
            let permits = budget.join(job: entry.id, keyID: keyID, priority: entry.priority)
            // The job runs with the config recorded at its admission, never the file as edited since.
            var request = RunRequest(source: .recorded(job: entry.name), databasePath: options.databasePath,
                                     environment: options.environment, logger: logger)
            request.budget = permits
            // /metrics follows the job from its events, not from the database at every scrape.
            await gauges.beginRun(jobID: entry.id, store: store)
            request.observer = RunObservers([request.observer, gauges.observer(jobID: entry.id)])
            let result = await ServedJob.run(request, id: entry.id, active: active)
            budget.leave(job: entry.id)
            let now = ProgressStore.nowMs()
            switch result {
            case .success(.ran(let outcome)):
                logger.info("job ended", metadata: ["state": "\(outcome.state.rawValue)", "step": "\(outcome.step)"])
            case .success(.alreadyComplete(let step)):
                try? await store.finish(jobID: entry.id, state: .completed, error: nil, now: now)
                logger.info("job was already complete", metadata: ["step": "\(step)"])
            case .failure(SessionError.alreadyRunning):
                logger.notice("job is held by another runner; skipped")
            case .failure(let error):
                let message = String(describing: error)
                logger.error("job could not start", metadata: ["error": "\(message)"])
                try? await store.failQueuedJob(jobID: entry.id, error: message, now: now)
                try? await store.recordEvent(jobID: entry.id, kind: "error", step: nil, message: message, now: now)
            }
            try? await store.clearStopRequest(jobID: entry.id)
            gauges.endRun(jobID: entry.id)
            if let record = try? await store.job(id: entry.id) { await events.jobEnded(record) }
            active.remove(entry.id)
        }
    }

    /// The key id of the job's API key, from the variable its recorded config names (never the
    /// file as edited since); "unknown" when the key cannot be read (the job then fails to start
    /// and says why).
    static func keyID(apiKeyEnv: String, environment: [String: String]) -> String {
        var api = APIConfig()
        api.apiKeyEnv = apiKeyEnv
        guard let key = try? api.apiKey(environment: environment) else { return "unknown" }
        return KeyIdentity.id(ofKey: key)
    }
}

/// Where the end of a job is told (webhooks). The default tells nobody.
struct JobEvents: Sendable {
    var ended: @Sendable (JobRecord) async -> Void = { _ in }
    func jobEnded(_ job: JobRecord) async { await ended(job) }
}
