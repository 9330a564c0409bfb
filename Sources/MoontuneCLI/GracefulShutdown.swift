import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs a body as the only service of a ServiceGroup, so that code inside can use
/// `Task.isShuttingDownGracefully` and `cancelWhenGracefulShutdown`.
///
/// The first SIGTERM or SIGINT asks for a graceful shutdown; a second one exits at once (the
/// state database is crash-safe, and the next run reconciles).
enum GracefulShutdown {
    /// - Parameter onFirstSignal: told the signal's name, to report the stop where the user looks.
    static func run<T: Sendable>(logger: Logger, onFirstSignal: @escaping @Sendable (String) -> Void = { _ in },
                                 _ body: @escaping @Sendable () async -> T) async throws -> T {
        let result = ResultBox<T>()
        let service = BodyService { result.set(await body()) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: Logger(label: "moontune.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        let signals = SignalWatcher(group: group, logger: logger, onFirstSignal: onFirstSignal)
        let sources = signals.install()
        defer { for source in sources { source.cancel() } }
        try await group.run()
        guard let value = result.get() else {
            throw CancellationError()
        }
        return value
    }
}

private struct BodyService: Service {
    let body: @Sendable () async -> Void
    func run() async throws { await body() }
}

private final class ResultBox<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ newValue: T) { value.withLock { $0 = newValue } }
    func get() -> T? { value.withLock { $0 } }
}

/// Turns SIGTERM/SIGINT into a graceful shutdown of a ServiceGroup; the second signal exits.
private final class SignalWatcher: Sendable {
    private let group: ServiceGroup
    private let logger: Logger
    private let count = Mutex(0)
    private let onFirstSignal: @Sendable (String) -> Void
    private let queue = DispatchQueue(label: "moontune.signals")

    init(group: ServiceGroup, logger: Logger, onFirstSignal: @escaping @Sendable (String) -> Void) {
        self.group = group
        self.logger = logger
        self.onFirstSignal = onFirstSignal
    }

    /// Starts watching; cancel the returned sources to stop.
    func install() -> [any DispatchSourceSignal] {
        var made: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in received(number) }
            source.resume()
            made.append(source)
        }
        return made
    }

    private func received(_ number: Int32) {
        let seen = count.withLock { count -> Int in
            count += 1
            return count
        }
        if seen == 1 {
            onFirstSignal(number == SIGTERM ? "SIGTERM" : "SIGINT")
            let group = group
            // The signal handler runs on a Dispatch queue; the shutdown request is async.
            Task { await group.triggerGracefulShutdown() }
        } else {
            FileHandle.standardError.write(Data("second signal: stopping now; the next run reconciles\n".utf8))
            _exit(130)
        }
    }
}
