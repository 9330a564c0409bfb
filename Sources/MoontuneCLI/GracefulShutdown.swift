import Dispatch
import Foundation
import Logging
import MoontuneReport
import ServiceLifecycle
import Synchronization

/// Runs a body as the only service of a ServiceGroup, so that code inside can use
/// `Task.isShuttingDownGracefully` and `cancelWhenGracefulShutdown`.
///
/// The first SIGTERM or SIGINT asks for a graceful shutdown. A second one, or a graceful stop
/// that takes longer than `maximumGracefulDuration`, exits at once (the state database is
/// crash-safe, and the next run reconciles). The signal dispositions are restored on return.
///
/// The signals are watched by this function rather than by the group's own
/// `gracefulShutdownSignals`, because the first one must be reported where the user looks and
/// the second must end the process: the group only shuts down, it does not exit.
enum GracefulShutdown {
    /// The bound when the caller names none. `run` passes its own: the job's train_step timeout
    /// plus `gracefulMargin`, since a graceful stop sees the train_step in flight through and
    /// that request is bounded by its own timeout.
    static let maximumGracefulDuration: Duration = .seconds(120)
    /// Time, past the train_step's own timeout, to record its answer and end the run.
    static let gracefulMargin: Double = 30

    /// - Parameter onFirstSignal: told the signal's name, to report the stop where the user looks.
    static func run<T: Sendable>(logger: Logger, maximumGracefulDuration: Duration = Self.maximumGracefulDuration,
                                 onFirstSignal: @escaping @Sendable (String) -> Void = { _ in },
                                 _ body: @escaping @Sendable () async -> T) async throws -> T {
        let result = ResultBox<T>()
        let service = BodyService { result.set(await body()) }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: Logger(label: "moontune.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        let signals = await SignalStream.install([SIGTERM, SIGINT])
        defer { signals.uninstall() }
        let (firstSignal, firstSignalSeen) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                var seen = 0
                for await number in signals.stream {
                    seen += 1
                    guard seen == 1 else { exitNow("second signal") }
                    onFirstSignal(number == SIGTERM ? "SIGTERM" : "SIGINT")
                    firstSignalSeen.yield()
                    await group.triggerGracefulShutdown()
                }
            }
            // The bound on a graceful stop, counted from the first signal.
            tasks.addTask {
                for await _ in firstSignal {
                    try await Task.sleep(for: maximumGracefulDuration)
                    exitNow("the graceful stop took longer than \(ReportText.duration(seconds: maximumGracefulDuration.seconds))")
                }
            }
            // The group ends when the body does; the signal watcher and the bound are cancelled then.
            try await tasks.next()
            tasks.cancelAll()
        }
        guard let value = result.get() else {
            throw CancellationError()
        }
        return value
    }

    private static func exitNow(_ why: String) -> Never {
        FileHandle.standardError.write(Data("\(why): stopping now; the next run reconciles\n".utf8))
        _exit(130)
    }
}

extension Duration {
    fileprivate var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
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

/// SIGTERM/SIGINT as an async sequence: ignored by default while installed, the dispositions
/// found before restored by `uninstall()`. Unchecked: every stored property is set once, in init.
private final class SignalStream: @unchecked Sendable {
    typealias Handler = @convention(c) (Int32) -> Void
    let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let sources: [any DispatchSourceSignal]
    private let previous: [(Int32, Handler?)]
    private static let queue = DispatchQueue(label: "moontune.signals")

    private init(stream: AsyncStream<Int32>, continuation: AsyncStream<Int32>.Continuation,
                 sources: [any DispatchSourceSignal], previous: [(Int32, Handler?)]) {
        self.stream = stream
        self.continuation = continuation
        self.sources = sources
        self.previous = previous
    }

    /// Returns once every source is registered. A source is registered on its queue after
    /// `resume()` returns, and a signal that came between the `SIG_IGN` and the registration would
    /// be ignored: so the caller's work starts only after the registration handlers have run (a
    /// SIGTERM sent the moment `start` began indexing was once lost that way).
    static func install(_ numbers: [Int32]) async -> SignalStream {
        let (stream, continuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .unbounded)
        var sources: [any DispatchSourceSignal] = []
        var previous: [(Int32, Handler?)] = []
        for number in numbers {
            previous.append((number, signal(number, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            await withCheckedContinuation { (registered: CheckedContinuation<Void, Never>) in
                source.setRegistrationHandler { registered.resume() }
                source.resume()
            }
            sources.append(source)
        }
        return SignalStream(stream: stream, continuation: continuation, sources: sources, previous: previous)
    }

    func uninstall() {
        for source in sources { source.cancel() }
        continuation.finish()
        for (number, handler) in previous { signal(number, handler) }
    }
}
