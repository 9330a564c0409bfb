import Foundation
import MoondreamAPI
import MoontuneStore
import MoontuneReport

/// The finetune a `NAME|ID` argument means, and how to reach its server.
///
/// A local job's name wins (its finetune, on the server the job trains on); otherwise the
/// argument is a finetune id, or else a finetune name, on the server `--config`/`--base-url` names.
package struct FinetuneTarget: Sendable {
    package var finetuneID: String
    package var access: APIAccess
    /// The finetune as the server describes it; nil when the server no longer has it.
    package var finetune: Finetune?
    /// Local jobs that train (or trained) this finetune.
    package var jobs: [JobRecord]

    /// Finds the target and returns it with a client for its server (the caller shuts it down).
    ///
    /// - Parameter standalone: the server to ask when `argument` is not a local job's name (read
    ///   only then: `--config`'s problems do not matter for a job's name).
    package static func resolve(_ argument: String, local: LocalJobs, standalone: () throws -> APIAccess,
                                client makeClient: (APIAccess) throws -> MoondreamClient) async throws -> (FinetuneTarget, MoondreamClient) {
        let job = try await local.jobIfAny(named: argument)
        let access = try job.map(APIAccess.job) ?? standalone()
        let client = try makeClient(access)
        do {
            return (try await find(argument, job: job, access: access, local: local, client: client), client)
        } catch {
            await client.shutdown()
            throw error
        }
    }

    private static func find(_ argument: String, job: JobRecord?, access: APIAccess, local: LocalJobs,
                             client: MoondreamClient) async throws -> FinetuneTarget {
        if let job {
            let id = try LocalJobs.finetuneID(of: job)
            return FinetuneTarget(finetuneID: id, access: access, finetune: try await fetch(id, client: client),
                                  jobs: try await local.jobs(usingFinetune: id))
        }
        if let byID = try await fetch(argument, client: client) {
            return FinetuneTarget(finetuneID: byID.finetuneID, access: access, finetune: byID,
                                  jobs: try await local.jobs(usingFinetune: byID.finetuneID))
        }
        if let byName = try await client.allFinetunes().collect().first(where: { $0.name == argument }) {
            return FinetuneTarget(finetuneID: byName.finetuneID, access: access, finetune: byName,
                                  jobs: try await local.jobs(usingFinetune: byName.finetuneID))
        }
        let recorded = try await local.jobs(usingFinetune: argument)
        guard !recorded.isEmpty else {
            throw ManageFailure("no job named \(argument) in \(local.path), and no finetune with that id or name on \(access.baseURL)")
        }
        // Known to the record but gone from the server: still a target, to show what the record says.
        return FinetuneTarget(finetuneID: argument, access: access, finetune: nil, jobs: recorded)
    }

    /// The finetune, or nil on 404 (never existed, or deleted).
    package static func fetch(_ id: String, client: MoondreamClient) async throws -> Finetune? {
        do {
            return try await client.finetune(id: id)
        } catch let error as APIError where error.kind == .notFound {
            return nil
        }
    }

    /// The finetune's saved checkpoints; empty when the finetune is gone.
    package func serverCheckpoints(client: MoondreamClient) async throws -> [Checkpoint] {
        guard finetune != nil else { return [] }
        do {
            return try await client.allCheckpoints(finetuneID: finetuneID).collect()
        } catch let error as APIError where error.kind == .notFound {
            return []
        }
    }

    /// "job kitchen (completed, step 40 of 40)" for each local job using it.
    package func jobSummaries(local: LocalJobs) async throws -> [String] {
        var lines: [String] = []
        for job in jobs {
            let step = try await local.store?.lastAppliedStep(jobID: job.id ?? 0) ?? 0
            var line = "job \(job.name) (\(local.displayedState(job)), step \(step) of \(job.totalSteps))"
            if let deleted = job.finetuneDeletedAtMs { line += ", finetune recorded deleted \(StatusText.date(deleted))" }
            lines.append(line)
        }
        return lines
    }
}
