import Foundation
import NIOCore
import NIOSSL
import Synchronization
import Testing
@testable import MoondreamAPI

/// What the client tells a listener about a wait, and how it classifies failures that waiting
/// cannot fix.
@Suite struct WaitReportingTests {
    @Test func theReasonOfAWaitIsSaidInWords() {
        let refused = APIError(kind: .transport(.connect), endpoint: "POST /tuning/finetunes", message: "connection refused")
        #expect(refused.waitReason == "connection refused")
        let outage = APIError(kind: .server, endpoint: "POST /tuning/rollouts", status: 503, message: "down")
        #expect(outage.waitReason == "503")
        let limited = APIError(kind: .rateLimited, endpoint: "POST /tuning/rollouts", status: 429, message: "slow down",
                               retryAfter: .seconds(20))
        #expect(limited.waitReason == "429, Retry-After 20 s")
        let brief = APIError(kind: .server, endpoint: "GET /x", status: 503, message: "", retryAfter: .milliseconds(500))
        #expect(brief.waitReason == "503, Retry-After 0.5 s")
        let timeout = APIError(kind: .transport(.timeout), endpoint: "GET /x", message: "")
        #expect(timeout.waitReason == "timed out")
    }

    @Test func aRetryReportsItsReasonNextAttemptAndGiveUpTimeThenHowTheCallSettled() async throws {
        let clock = VirtualClock()
        let transport = ScriptedTransport([
            .answer(429, "{}", [("Retry-After", "20")]), .fail(.connect),
            .answer(200, #"{"checkpoint":{"checkpoint_id":"c","finetune_id":"f","step":4}}"#),
        ])
        let events = Mutex<[RetryEvent]>([])
        let settled = Mutex<[(String, Int, Bool)]>([])
        let observer = RetryObserver({ event in events.withLock { $0.append(event) } },
                                     settled: { endpoint, attempts, ok in settled.withLock { $0.append((endpoint, attempts, ok)) } })
        let policy = RetryPolicy(maxAttempts: 5, baseDelay: .seconds(1), maxDelay: .seconds(4), giveUpAfter: .seconds(900))
        _ = try await RetryReporting.$observer.withValue(observer) {
            try await makeClient(transport, clock: clock, retry: policy).saveCheckpoint(finetuneID: "f")
        }
        let reported = events.withLock { $0 }
        #expect(reported.count == 2)
        let first = try #require(reported.first)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(first.waitReason == "429, Retry-After 20 s")
        #expect(first.attempt == 1 && first.maxAttempts == 5)
        #expect(first.nextAttemptAt == start.addingTimeInterval(20))
        #expect(first.givesUpAt == start.addingTimeInterval(900))
        #expect(reported.last?.waitReason == "scripted could not connect", "the transport's own words")
        let ends = settled.withLock { $0 }
        #expect(ends.count == 1, "one settlement per retried call")
        #expect(ends.first?.0 == "POST /tuning/finetunes/f/checkpoints/save")
        #expect(ends.first?.1 == 3)
        #expect(ends.first?.2 == true)
    }

    @Test func aCallThatNeverRetriedIsNotSettledAndOneThatGaveUpIsSettledAsFailed() async throws {
        let settled = Mutex<[Bool]>([])
        let observer = RetryObserver({ _ in }, settled: { _, _, ok in settled.withLock { $0.append(ok) } })
        _ = try await RetryReporting.$observer.withValue(observer) {
            try await makeClient(ScriptedTransport([.answer(200, #"{"finetune_id":"x"}"#)])).createFinetune(name: "a", rank: 8)
        }
        #expect(settled.withLock { $0 }.isEmpty)
        let failing = ScriptedTransport([.answer(503, ""), .answer(503, ""), .answer(503, ""), .answer(503, "")])
        await #expect(throws: APIError.self) {
            try await RetryReporting.$observer.withValue(observer) {
                try await makeClient(failing).createFinetune(name: "a", rank: 8)
            }
        }
        #expect(settled.withLock { $0 } == [false])
    }

    @Test func aCancelledWaitIsNotRetriedAndThrowsCancellation() async throws {
        let transport = ScriptedTransport([.fail(.connect), .answer(200, #"{"finetune_id":"x"}"#)])
        let environment = RetryEnvironment(now: { ContinuousClock.now }, sleep: { try await Task.sleep(for: $0) },
                                           date: { Date() }, random: { 0.5 })
        let client = MoondreamClient(
            configuration: ClientConfiguration(baseURL: "http://127.0.0.1:9/v1", apiKey: APIKey("k"),
                                               retry: RetryPolicy(maxAttempts: 5, baseDelay: .seconds(60), maxDelay: .seconds(60))),
            transport: transport, environment: environment)
        let task = Task { try await client.createFinetune(name: "a", rank: 8) }
        let deadline = ContinuousClock.now + .seconds(10)
        while transport.requests.isEmpty && ContinuousClock.now < deadline { await Task.yield() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(transport.requests.count == 1, "a cancelled backoff makes no further attempt")
    }

    @Test func aListenerCanEndABackoffAndTheCallThrowsWithoutRetrying() async throws {
        let transport = ScriptedTransport([.answer(429, "{}", [("Retry-After", "120")]), .answer(200, "{}")])
        let observer = RetryObserver({ _ in }, backoff: { _, _ in throw CancellationError() })
        let groups = [TrainGroup(request: try RawJSON(validating: #"{"skill":"query","question":"q"}"#),
                                 rollouts: [try RawJSON(validating: #"{"skill":"query","output":{"answer":"a"}}"#)], rewards: [1])]
        await #expect(throws: CancellationError.self) {
            try await RetryReporting.$observer.withValue(observer) {
                try await makeClient(transport).trainStep(finetuneID: "f", groups: groups, lr: nil)
            }
        }
        #expect(transport.requests.count == 1, "a train_step's backoff ended by a stop sends nothing more")
    }

    @Test func aHostThatDoesNotResolveOrTLSThatFailsIsNeverRetried() async throws {
        for failure in [TransportFailure.unresolvable, .tls] {
            let transport = ScriptedTransport([.fail(failure), .answer(200, #"{"finetune_id":"x"}"#)])
            let error = try await #require(throws: APIError.self) {
                try await makeClient(transport).createFinetune(name: "a", rank: 8)
            }
            #expect(error.kind == .transport(failure))
            #expect(!error.isTransient)
            #expect(!error.isAmbiguous)
            #expect(transport.requests.count == 1)
            #expect(failure.certainlyNotDelivered)
        }
        let policy = RetryPolicy()
        let trainStep = APIError(kind: .transport(.unresolvable), endpoint: "POST /tuning/train_step", message: "")
        #expect(policy.decide(after: trainStep, attempts: 1, elapsed: .zero, idempotent: false, random: 0) == .fail(ambiguous: false),
                "a train_step that never left is not in doubt")
    }

    @Test func transportErrorsAreClassifiedByType() {
        let refused = AsyncHTTPTransport.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect"))
        #expect(refused.failure == .connect)
        #expect(refused.detail == "connection refused")
        #expect(AsyncHTTPTransport.classify(IOError(errnoCode: ECONNRESET, reason: "read")).failure == .connectionLost)
        #expect(AsyncHTTPTransport.classify(SocketAddressError.unsupported).failure == .unresolvable)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.handshakeFailed(.sslError([]))).failure == .tls)
        #expect(AsyncHTTPTransport.classify(NIOSSLExtraError.failedToValidateHostname).failure == .tls)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.uncleanShutdown).failure == .connectionLost)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.unableToValidateCertificate).failure == .tls)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.handshakeFailed(.sslError([.eofDuringHandshake]))).failure == .connect,
                "a handshake cut short may be the network's doing")
        #expect(AsyncHTTPTransport.classify(NIOSSLError.handshakeFailed(.zeroReturn)).failure == .connect)
        #expect(AsyncHTTPTransport.classify(IOError(errnoCode: ETIMEDOUT, reason: "read")).failure == .other,
                "an established connection can time out after the request went out")
        #expect(AsyncHTTPTransport.classify(ChannelError.connectTimeout(.seconds(10))).failure == .connect)
        #expect(AsyncHTTPTransport.classify(CancellationError()).failure == .connectionLost)
    }

    @Test func aConnectionThatFoundNoAddressDoesNotResolveAndOneThatWasRefusedIsRetried() {
        // NIOConnectionError's parts: the DNS lookups' errors and each attempt's.
        let unresolved = AsyncHTTPTransport.classifyConnection(dnsErrors: [SocketAddressError.unsupported], attemptErrors: [])
        #expect(unresolved.failure == .unresolvable)
        let refused = AsyncHTTPTransport.classifyConnection(dnsErrors: [],
                                                            attemptErrors: [IOError(errnoCode: ECONNREFUSED, reason: "connect")])
        #expect(refused.failure == .connect)
        #expect(refused.detail == "connection refused")
        let odd = AsyncHTTPTransport.classifyConnection(dnsErrors: [], attemptErrors: [FixtureFailure()])
        #expect(odd.failure == .connect, "a connection attempt that failed never carried the request")
    }
}

struct FixtureFailure: Error {}
