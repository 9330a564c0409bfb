import Foundation
import NIOCore
import Synchronization
@testable import MoondreamAPI

/// A transport that answers from a script and records what it was asked, with no sockets.
final class ScriptedTransport: HTTPTransport {
    enum Step: Sendable {
        case answer(Int, String, [(String, String)] = [])
        case fail(TransportFailure)
    }

    struct Sent: Sendable {
        var method: String
        var url: String
        var headers: [(String, String)]
        var body: String
        var timeout: Duration = .zero
    }

    private let script: Mutex<[Step]>
    private let sent = Mutex<[Sent]>([])

    init(_ steps: [Step]) {
        script = Mutex(steps)
    }

    var requests: [Sent] { sent.withLock { $0 } }

    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        let body = request.body.map { String(buffer: $0) } ?? ""
        sent.withLock { $0.append(Sent(method: request.method, url: request.url, headers: request.headers, body: body,
                                       timeout: request.timeout)) }
        let step = script.withLock { steps -> Step in
            steps.isEmpty ? .fail(.other) : steps.removeFirst()
        }
        switch step {
        case let .answer(status, text, headers):
            return HTTPResponseSpec(status: status, headers: headers, body: Array(text.utf8))
        case .fail(let failure):
            throw TransportError(failure, "scripted \(failure)")
        }
    }

    func shutdown() async {}
}

/// A clock that never sleeps: sleeping moves virtual time forward and is recorded.
final class VirtualClock: Sendable {
    private let state = Mutex<(offset: Duration, sleeps: [Duration])>((.zero, []))
    private let origin = ContinuousClock.now

    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    var environment: RetryEnvironment {
        RetryEnvironment(
            now: { [self] in origin + state.withLock { $0.offset } },
            sleep: { [self] duration in state.withLock { $0.offset += duration; $0.sleeps.append(duration) } },
            date: { Date(timeIntervalSince1970: 1_700_000_000) },
            random: { 0.999_999 })
    }
}

func makeClient(_ transport: ScriptedTransport, clock: VirtualClock = VirtualClock(), key: String = "sk-test-SECRET-123",
                retry: RetryPolicy = RetryPolicy(maxAttempts: 4, baseDelay: .seconds(1), maxDelay: .seconds(4))) -> MoondreamClient {
    MoondreamClient(configuration: ClientConfiguration(baseURL: "http://127.0.0.1:9/v1/", apiKey: APIKey(key), retry: retry),
                    transport: transport, environment: clock.environment)
}
