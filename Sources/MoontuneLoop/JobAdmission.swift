import Foundation
import MoontuneJob
import MoontuneStore

/// Where a job's config comes from when it is admitted.
public enum JobConfigSource: Sendable, Equatable {
    /// A file a user handed to a command (`run`, `start`, `submit`, `sweep`): read now, and its
    /// text becomes the job's recorded config once admitted.
    case file(URL)
    /// The config recorded when the job was admitted (`serve`): no file is read, so editing the
    /// file afterwards changes nothing for the job.
    case recorded(job: String)
    /// A config given as text, resolved (and named in messages) as if it were the file at the URL:
    /// a sweep's variant (issue 25), the base config with the variant's values written in. Its
    /// text becomes the job's recorded config once admitted, as a file's does.
    case text(String, at: URL)
}

/// A job that passed admission: its config and datasets checked, its training settings compared
/// with the record's, and whether it is already complete decided.
public struct Admission: Sendable {
    public var config: JobConfig
    /// The validation, with the opened datasets (nothing is read twice).
    public var report: ValidationReport
    /// The training fingerprint, and as it is recorded.
    public var fingerprint: TrainingFingerprint
    public var fingerprintJSON: String
    /// The config's text: the file's as handed, or the recorded one.
    public var configText: String
    /// Whether the config came from a file a user handed over (it then replaces the recorded one).
    public var fromFile: Bool
    /// The job's record as it was when admitted, or nil for a new job.
    public var existing: JobRecord?
    /// The step at which the job already ended complete (every step done, or an early stop):
    /// nothing is to be run or queued.
    public var completeAtStep: Int?

    /// The record a new job is created with, holding the config as admitted.
    public func newRecord(now: Int64) -> JobRecord {
        var record = JobRecord(name: config.name, configPath: config.sourceURL.path, configJSON: config.snapshotJSON,
                               fingerprintJSON: fingerprintJSON, baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv,
                               totalSteps: config.train.steps, now: now)
        record.configText = configText
        return record
    }
}

/// The one way a job is admitted, for `run`, `start`, `submit`, `serve` and `sweep` (issue 21).
///
/// It reads the config (from the file a user handed over, or from the record), validates it with
/// its datasets, compares the training fingerprint with the record's (a change is refused: resuming
/// would not reproduce the run; a fingerprint that no longer decodes is refused too), and decides
/// whether the job is already complete. It records nothing; the command records the admission as
/// its own step does (create, queue, mark running), with `Admission.newRecord` or the admitted text.
public enum JobAdmission {
    /// Admits the job `source` describes. Validation runs off the cooperative pool and a graceful
    /// stop ends it early (`SessionError.setup(stoppedDuringValidationMessage)`).
    ///
    /// - Throws: `SessionError.invalid` (each problem names file, line and field),
    ///   `.configChanged`, or `.setup` (an unreadable record, a job that is not recorded, a stop).
    public static func admit(_ source: JobConfigSource, databasePath: String) async throws -> Admission {
        let indexCache = DatasetIndexCache(databasePath: databasePath)
        let (url, read, fromFile) = try await configText(of: source, databasePath: databasePath)
        // A file that cannot be read as UTF-8 text is read by validation itself, which says why.
        let report = try await validateJobStoppably(configURL: url, configText: read, indexCache: indexCache)
        let text = read ?? (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        if report.stopped || Task.isCancelled {
            throw SessionError.setup(stoppedDuringValidationMessage)
        }
        guard report.problems.isEmpty else { throw SessionError.invalid(report.problems) }
        guard let config = report.config, let train = report.train else {
            throw SessionError.setup("internal: a valid job without its config or train set")
        }
        let fingerprint = config.trainingFingerprint(train: train.fingerprint)
        var admission = Admission(config: config, report: report, fingerprint: fingerprint,
                                  fingerprintJSON: try JobSession.encodeJSON(fingerprint), configText: text,
                                  fromFile: fromFile, existing: nil, completeAtStep: nil)
        if FileManager.default.fileExists(atPath: databasePath) {
            let store = try await ProgressStore.shared(path: databasePath)
            try await admission.compare(with: store)
        }
        return admission
    }

    /// The config's location and text: the file's, or the one recorded at the job's admission. A
    /// job recorded before the text was (v14) has its file read once, and that text is what runs.
    static func configText(of source: JobConfigSource, databasePath: String) async throws -> (URL, String?, Bool) {
        switch source {
        case .file(let url):
            // Read once: what is validated is what is recorded. A file that is absent, a folder, or
            // not UTF-8 gives nil, and validation reads it and reports why, with its path.
            let text = (try? Data(contentsOf: url)).flatMap { String(data: $0, encoding: .utf8) }
            return (url, text, true)
        case let .text(text, url):
            return (url, text, true)
        case .recorded(let name):
            let store: ProgressStore
            do {
                store = try await ProgressStore.shared(path: databasePath)
            } catch {
                throw SessionError.setup(String(describing: error))
            }
            guard let job = try await store.job(named: name) else {
                throw SessionError.setup("no job named \(name) in \(databasePath)")
            }
            let url = URL(fileURLWithPath: job.configPath)
            if let text = job.configText { return (url, text, false) }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw SessionError.setup("job \(name) was recorded before moontune kept its config, and its file \(job.configPath) "
                    + "cannot be read: submit it again with its config")
            }
            return (url, text, true)
        }
    }

    /// The config a recorded job runs with, for the parts of the daemon that need it without
    /// running the job (its webhook, its key): the admitted text, never the file as edited since.
    /// Nil when it cannot be read (the job then fails to start and says why).
    public static func recordedConfig(of job: JobRecord) -> JobConfig? {
        try? JobConfig.load(from: URL(fileURLWithPath: job.configPath), text: job.configText).config
    }
}

extension Admission {
    /// Compares the admitted job with its record in `store`: the same training settings, and
    /// whether it already ended complete. Called again under the job's lock by `run`, since another
    /// process may have recorded the job meanwhile.
    public mutating func compare(with store: ProgressStore) async throws {
        existing = try await store.job(named: config.name)
        completeAtStep = nil
        guard let existing else { return }
        let recorded = try JobSession.decodeFingerprint(existing.fingerprintJSON, job: config.name)
        if recorded != fingerprint {
            let changes = fingerprint.changes(from: recorded)
            throw SessionError.configChanged(job: config.name, changes: changes.isEmpty ? ["(the training fingerprint differs)"] : changes)
        }
        let applied = try await store.lastAppliedStep(jobID: existing.id ?? 0)
        if existing.state == .completed && (applied >= config.train.steps || existing.stopReason == "early_stop") {
            completeAtStep = applied
        }
    }
}
