import Foundation
import MoontuneReport
import MoontuneServe
import MoontuneStore

/// `/api/jobs` of `serve` (issue 21): the `status --json` document, at a cost that does not grow
/// with the history the database holds.
///
/// - Every running and queued job is whole, read at each request.
/// - The others (completed, failed, stopped, pending) are whole too, but read once per change
///   (cached by their head's version, and refreshed at most once a minute for the warnings that
///   depend on the time) and paged: the `finished` most recently updated (default 50) from
///   `finished_offset`, with how many there are (`finished_jobs`).
/// - `changed_since=MS` (an earlier answer's `as_of_ms`) leaves out the jobs unchanged since then;
///   `names` lists every job, so a client that keeps the others can drop the ones gone.
actor ServeJobsDocument {
    struct FinishedPage: Encodable {
        var total: Int
        var offset: Int
        var limit: Int
    }

    struct Page: Encodable {
        var jobs: [JobStatusReport]
        var budget: [KeyBudgetRecord]?
        /// The pace in force per API key (issue 22), as `status --json` has it.
        var paces: [KeyPaceRecord]?
        var asOfMs: Int64
        var names: [String]
        var finishedJobs: FinishedPage

        enum CodingKeys: String, CodingKey {
            case jobs, budget, paces = "key_paces", asOfMs = "as_of_ms", names, finishedJobs = "finished_jobs"
        }
    }

    let databasePath: String
    private var cache: [Int64: (version: Int64, loadedAtMs: Int64, report: JobStatusReport)] = [:]
    /// Reports read from the database so far (for tests: an unchanged history is read once).
    private(set) var loads = 0
    static let refreshAfterMs: Int64 = 60_000

    init(databasePath: String) {
        self.databasePath = databasePath
    }

    func document(store: ProgressStore, query: JobsQuery) async throws -> String {
        let now = ProgressStore.nowMs()
        let heads = try await store.jobHeads()
        let live = heads.filter { $0.state == .running || $0.state == .queued }
        let rest = heads.filter { $0.state != .running && $0.state != .queued }.sorted { ($0.updatedAtMs, $0.id) > ($1.updatedAtMs, $1.id) }
        let offset = max(0, query.finishedOffset)
        let limit = max(0, query.finished)
        let page = Array(rest.dropFirst(offset).prefix(limit))
        var reports: [JobStatusReport] = []
        for head in live + page {
            let always = head.state == .running  // its liveness can change without its record changing
            if let since = query.changedSince, !always, head.version <= since { continue }
            if let report = try await report(head, store: store, now: now, always: always) { reports.append(report) }
        }
        let known = Set(heads.map(\.id))
        cache = cache.filter { known.contains($0.key) }
        let document = Page(jobs: reports, budget: try await store.keyBudgets().nilIfEmpty, paces: try await store.keyPaces().nilIfEmpty,
                            asOfMs: now, names: heads.map(\.name),
                            finishedJobs: FinishedPage(total: rest.count, offset: offset, limit: limit))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }

    private func report(_ head: JobHead, store: ProgressStore, now: Int64, always: Bool) async throws -> JobStatusReport? {
        if !always, let cached = cache[head.id], cached.version == head.version, now - cached.loadedAtMs < Self.refreshAfterMs {
            return cached.report
        }
        guard let job = try await store.job(id: head.id) else { return nil }  // deleted meanwhile
        let report = try await JobStatusReport.load(job, store: store, databasePath: databasePath, now: now)
        loads += 1
        cache[head.id] = (head.version, now, report)
        return report
    }
}
