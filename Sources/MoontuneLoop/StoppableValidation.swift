import Foundation
import MoontuneJob
import NIOPosix
import ServiceLifecycle

/// `validateJob` as `run`, `start` and `serve` call it: on NIO's thread pool (the dataset scan is
/// blocking work, and the cooperative pool is only as wide as the cores), and stoppable. A
/// graceful shutdown (the first SIGTERM or SIGINT, through ServiceLifecycle) or the task's
/// cancellation asks the scan to stop; it does within a chunk, and the report comes back
/// `stopped` with nothing stored in the index cache. The caller then says so and exits.
public func validateJobStoppably(configURL: URL, configText: String? = nil, indexCache: DatasetIndexCache?) async throws -> ValidationReport {
    let stop = ScanStop()
    return try await withGracefulShutdownHandler {
        try await withTaskCancellationHandler {
            try await NIOThreadPool.singleton.runIfActive {
                validateJob(configURL: configURL, configText: configText, indexCache: indexCache, stop: stop)
            }
        } onCancel: {
            stop.request()
        }
    } onGracefulShutdown: {
        stop.request()
    }
}

/// What `run` and `start` say when a stop came while the job was being validated.
public let stoppedDuringValidationMessage =
    "stopped while the job was being validated: nothing was sent, no index was stored and the record is unchanged"
