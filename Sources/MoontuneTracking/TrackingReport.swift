import Foundation
import MoondreamAPI
import MoontuneReport
import MoontuneStore
import NIOPosix

/// The job's report (as `moontune report` writes it) for a tracker's artifacts.
enum TrackingReport {
    static func html(job: TrackedJob) async throws -> String {
        guard let record = try await job.store.job(id: job.jobID) else { throw TrackingError("the job's record is gone") }
        let now = ProgressStore.nowMs()
        let series = try await job.store.stepSeries(jobID: job.jobID)
        let report = try await JobStatusReport.load(record, store: job.store, databasePath: job.databasePath, now: now, series: series)
        let evals = try await job.store.evals(jobID: job.jobID)
        var data = ReportData(report: report, configJSON: record.configJSON, series: series, evals: evals, generatedAtMs: now)
        data.comparisons = try await job.store.comparisons(jobName: record.name)
        data.lrSeries = try await job.store.lrSeries(jobID: job.jobID)
        if let source = try await EvalGallery.Source.load(jobID: job.jobID, evals: evals, store: job.store) {
            data.gallery = try await NIOThreadPool.singleton.runIfActive { source.build() }
        }
        return SecretRedactor.fromEnvironment().redact(ReportHTML.render(data))
    }
}
