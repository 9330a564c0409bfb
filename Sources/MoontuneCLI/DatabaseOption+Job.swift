import ArgumentParser
import Foundation
import MoontuneStore

extension DatabaseOption {
    /// Opens the database read-only and finds the job named `name`; a missing database or job
    /// becomes one clear line on standard error and exit code 1.
    func openJob(named name: String) async throws -> (store: ProgressStore, job: JobRecord) {
        do {
            let store = try ProgressStore(path: path, readOnly: true)
            guard let job = try await store.job(named: name), job.id != nil else {
                FileHandle.standardError.write(Data("moontune: no job named \(name) in \(path)\n".utf8))
                throw ExitCode(1)
            }
            return (store, job)
        } catch let error as StoreError {
            FileHandle.standardError.write(Data("moontune: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
