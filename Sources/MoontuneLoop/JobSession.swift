import Foundation
import Logging
import MoondreamAPI
import MoontuneJob
import MoontuneStore
import MoontuneTracking
import NIOPosix
import ServiceLifecycle

/// Why a run did not start. Nothing was sent to the API and the job's record is unchanged.
public enum SessionError: Error, CustomStringConvertible, Sendable {
    /// The config or dataset has problems (each names file, line and field).
    case invalid([Problem])
    case alreadyRunning(job: String, pid: Int32?, host: String?)
    /// Settings that change training differ from the job's record.
    case configChanged(job: String, changes: [String])
    case setup(String)

    public var description: String {
        switch self {
        case .invalid(let problems):
            return problems.map(\.description).joined(separator: "\n")
        case let .alreadyRunning(job, pid, host):
            let who = pid.map { " (pid \($0)\(host.map { " on \($0)" } ?? ""))" } ?? ""
            return "job \(job) is already running\(who); moontune runs one runner per job. Use `moontune status \(job)` to watch it "
                + "or `moontune stop \(job)` to stop it."
        case let .configChanged(job, changes):
            return "job \(job) was started with other training settings; resuming would not reproduce its run:\n"
                + changes.map { "  \($0)" }.joined(separator: "\n")
                + "\nRestore those settings, or give the job a new name to start afresh."
        case .setup(let message):
            return message
        }
    }
}

/// What `run` asks for.
public struct RunRequest: Sendable {
    /// Where the job's config comes from: a file a user handed to `run`, or the config recorded
    /// at the job's admission (`serve`).
    public var source: JobConfigSource
    public var databasePath: String
    public var rewindToServer: Bool
    public var environment: [String: String]
    public var observer: any RunObserver
    public var logger: Logger
    /// Called once the job holds its lock and is recorded `running` (for `start`'s handshake).
    public var onRunning: (@Sendable (Int64) -> Void)?
    /// A request budget shared with other jobs (`serve`, issue 13); nil: the job's own
    /// `train.concurrency` alone bounds its requests.
    public var budget: (any RequestBudget)? = nil

    public init(configURL: URL, databasePath: String, rewindToServer: Bool = false,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                observer: any RunObserver = SilentObserver(), logger: Logger = Logger(label: "moontune"),
                onRunning: (@Sendable (Int64) -> Void)? = nil) {
        self.init(source: .file(configURL), databasePath: databasePath, rewindToServer: rewindToServer, environment: environment,
                  observer: observer, logger: logger, onRunning: onRunning)
    }

    public init(source: JobConfigSource, databasePath: String, rewindToServer: Bool = false,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                observer: any RunObserver = SilentObserver(), logger: Logger = Logger(label: "moontune"),
                onRunning: (@Sendable (Int64) -> Void)? = nil) {
        self.source = source
        self.databasePath = databasePath
        self.rewindToServer = rewindToServer
        self.environment = environment
        self.observer = observer
        self.logger = logger
        self.onRunning = onRunning
    }
}

/// How `run` ended, from the user's side.
public enum SessionResult: Sendable, Equatable {
    case ran(RunOutcome)
    /// The job had already completed every step; nothing was done.
    case alreadyComplete(step: Int)
}

/// Opens a job and runs it: validate everything first, then lock, create or resume the record,
/// refuse a changed training config, and hand over to `JobRunner`.
public enum JobSession {
    public static func run(_ request: RunRequest) async throws -> SessionResult {
        // The one way in (`JobAdmission`): the config (the file handed to `run`, or the one
        // recorded at admission under `serve`) and the opened datasets, checked against the record.
        //
        // The scan reads every line (20 s for a million on a first run): it runs on NIO's thread
        // pool, never on the cooperative pool, which is only as wide as the cores. A stop asked
        // for meanwhile ends the scan within a chunk, before anything is recorded.
        var admission = try await JobAdmission.admit(request.source, databasePath: request.databasePath)
        if Task.isShuttingDownGracefully || Task.isCancelled {
            throw SessionError.setup(stoppedDuringValidationMessage)
        }
        if admission.completeAtStep != nil { return await alreadyComplete(admission, request: request) }
        let config = admission.config
        guard let dataset = admission.report.train else {
            throw SessionError.setup("internal: a valid job without its train set")
        }
        let evalDataset = admission.report.eval
        let apiKey: String
        do {
            apiKey = try config.api.apiKey(environment: request.environment)
            try config.reward.checkGraderKeys(environment: request.environment)  // issue 24: the judges' keys too
        } catch {
            throw SessionError.setup(String(describing: error))
        }

        let store: ProgressStore
        do {
            store = try await ProgressStore.shared(path: request.databasePath)
        } catch {
            throw SessionError.setup(String(describing: error))
        }
        guard let lock = try await JobLock.acquire(databasePath: request.databasePath, jobName: config.name) else {
            let running = try await store.job(named: config.name)
            throw SessionError.alreadyRunning(job: config.name, pid: running?.pid, host: running?.host)
        }
        // Under the lock, against the record as it is now.
        try await admission.compare(with: store)
        if admission.completeAtStep != nil { return await alreadyComplete(admission, request: request) }
        let existing = admission.existing
        let job: JobRecord
        if let existing {
            job = existing
        } else {
            job = try await store.createJob(admission.newRecord(now: ProgressStore.nowMs()))
        }
        guard let jobID = job.id else { throw SessionError.setup("the job record has no id") }
        // A file handed to `run` becomes the recorded config; a run from the record leaves it as it is.
        let previous = try await store.markRunning(jobID: jobID, pid: getpid(), host: hostName(), totalSteps: config.train.steps,
                                                   configJSON: config.snapshotJSON, configPath: config.sourceURL.path,
                                                   configText: admission.fromFile ? admission.configText : nil,
                                                   now: ProgressStore.nowMs())
        // Issue 25: a job run again by hand (`run`, `start`) after its sweep pruned it runs on; a
        // runner that died (`running`) is resumed under the decisions it took, and a queued job
        // was released by the `submit` that queued it again (JobRunner+Pruning.swift).
        if existing != nil, previous != .running, previous != .queued {
            try await store.releasePruning(jobID: jobID, now: ProgressStore.nowMs())
        }
        let startMessage: (String, String) = switch (existing == nil, previous) {
        case (true, _): ("started", "started")
        case (false, .running): ("crashed-and-resumed", "resumed after the previous runner died without stopping")
        default: ("resumed", "resumed (was \(previous.rawValue))")
        }
        try await store.recordEvent(jobID: jobID, kind: startMessage.0, step: try await store.lastAppliedStep(jobID: jobID),
                                    message: startMessage.1, now: ProgressStore.nowMs())
        request.onRunning?(jobID)

        let retry = RetryPolicy(maxAttempts: config.api.maxAttempts, maxDelay: .seconds(config.api.maxBackoffSeconds),
                                giveUpAfter: .seconds(config.api.giveUpAfterSeconds),
                                requestTimeout: .seconds(config.api.requestTimeoutSeconds))
        var clientConfiguration = ClientConfiguration(baseURL: config.api.baseURL, apiKey: APIKey(apiKey), retry: retry,
                                                      maxInFlight: config.train.concurrency, maxResponseBytes: config.api.maxResponseBytes)
        // serve's shared budget (issue 13) paces every job on the key; run paces itself (issue 22).
        let pacer = request.budget == nil ? KeyPacer(ceiling: config.api.maxRequestsPerSecond) : nil
        if let ceiling = config.api.maxRequestsPerSecond { request.budget?.limit(requestsPerSecond: ceiling) }
        clientConfiguration.budget = request.budget ?? pacer
        let client = MoondreamClient(configuration: clientConfiguration, logger: request.logger)
        let scorer: any RewardScorer
        do {
            scorer = try makeRewardScorer(config: config, environment: request.environment)
        } catch {
            await client.shutdown()
            throw SessionError.setup(String(describing: error))
        }
        var context = RunContext(config: config, jobID: jobID, store: store, client: client, dataset: dataset,
                                 evalDataset: evalDataset, scorer: scorer, builder: RequestBuilder(config: config, cache: ImageCache(maxImageBytes: config.data.maxImageBytes)),
                                 observer: request.observer, logger: request.logger, rewindToServer: request.rewindToServer,
                                 inDoubtWait: .milliseconds(Int64(config.api.inDoubtWaitSeconds * 1000)))
        context.evalBuilder = RequestBuilder(config: config, cache: ImageCache(capacityBytes: 0, maxImageBytes: config.data.maxImageBytes))
        request.observer.record(.attached(limiter: client.limiter))
        // The trackers (issue 23) deliver beside the run, and the job's end once it is over; the
        // pace of `run`'s key (issue 22) is recorded for `status` meanwhile.
        let outcome = await JobTracking.alongside(config: config, store: store, jobID: jobID, databasePath: request.databasePath,
                                                  environment: request.environment, logger: request.logger) {
            await PaceRecorder.recording(pacer, keyID: APIKeyID.id(ofKey: apiKey), job: config.name, store: store) {
                await JobRunner(context: context).run()
            }
        }
        // The reward program (if any) is closed and reaped with the run, never left behind.
        await scorer.close()
        await client.shutdown()
        withExtendedLifetime(lock) {}
        return .ran(outcome)
    }

    /// A job already complete: nothing runs, but what its trackers missed is delivered now (issue 23).
    static func alreadyComplete(_ admission: Admission, request: RunRequest) async -> SessionResult {
        if let job = admission.existing, let store = try? await ProgressStore.shared(path: request.databasePath) {
            await JobTracking.deliverRemaining(config: admission.config, store: store, job: job, databasePath: request.databasePath,
                                               environment: request.environment, logger: request.logger)
        }
        return .alreadyComplete(step: admission.completeAtStep ?? 0)
    }

    /// The training fingerprint the job was started with. One that no longer decodes is an
    /// error: skipping the check would resume a job whose training settings may have changed.
    static func decodeFingerprint(_ json: String, job: String) throws -> TrainingFingerprint {
        do {
            return try JSONDecoder().decode(TrainingFingerprint.self, from: Data(json.utf8))
        } catch {
            throw SessionError.setup("job \(job): the training settings recorded when it started (its fingerprint) can no longer be "
                + "read (\(error)), so moontune cannot check that resuming reproduces its run. Nothing was changed. "
                + "Give the job a new name to start afresh, or run it with the moontune version that started it.")
        }
    }

    static func encodeJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func hostName() -> String {
        ProcessInfo.processInfo.hostName
    }
}
