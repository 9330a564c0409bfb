import Foundation
import Logging
import MoontuneLoop
import MoontuneStore
import ServiceLifecycle
import Synchronization

/// One job under `serve`: `JobSession.run` (the exactly-once loop of `run`, with its lock) as
/// the only service of its own service group.
///
/// Graceful shutdown in ServiceLifecycle is task-scoped: triggering this group's shutdown stops
/// this job alone, the way SIGTERM stops `run` (a train_step in flight is seen through; any other
/// wait ends at once). The group also follows the daemon's own graceful shutdown (SIGTERM).
enum ServedJob {
    /// Runs the job to its end. Never throws: how it ended is in the result.
    static func run(_ request: RunRequest, id: Int64, active: ActiveJobs) async -> Result<SessionResult, any Error> {
        let box = Mutex<Result<SessionResult, any Error>?>(nil)
        let service = SessionService {
            do {
                let result = try await JobSession.run(request)
                box.withLock { $0 = .success(result) }
            } catch {
                box.withLock { $0 = .failure(error) }
            }
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: Logger(label: "moontune.serve.job", factory: { _ in SwiftLogNoOpLogHandler() })))
        active.attach(group, to: id)
        do {
            try await group.run()
        } catch {
            box.withLock { box in if case .none = box { box = .failure(error) } }
        }
        return box.withLock { $0 } ?? .failure(CancellationError())
    }
}

private struct SessionService: Service {
    let body: @Sendable () async -> Void
    func run() async throws { await body() }
}
