import Foundation
import Synchronization
import Testing
@testable import MoondreamAPI

@Suite struct ClientRetryTests {
    let group = TrainGroup(request: try! RawJSON(validating: #"{"skill":"query","question":"q"}"#),
                           rollouts: [try! RawJSON(validating: #"{"skill":"query","output":{"answer":"a"}}"#)], rewards: [1])

    @Test func sendsTheKeyHeaderAndJSONContentTypeToTheRightURL() async throws {
        let transport = ScriptedTransport([.answer(200, #"{"finetune_id":"01ABC"}"#)])
        let id = try await makeClient(transport).createFinetune(name: "job-1", rank: 16)
        #expect(id == "01ABC")
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url == "http://127.0.0.1:9/v1/tuning/finetunes")
        #expect(request.headers.contains { $0.0 == "X-Moondream-Auth" && $0.1 == "sk-test-SECRET-123" })
        #expect(request.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/json" })
        #expect(request.body == #"{"name":"job-1","rank":16}"#)
    }

    @Test func safeCallsRetryTransientFailuresWithBackoffAndRetryAfter() async throws {
        let clock = VirtualClock()
        let transport = ScriptedTransport([
            .answer(503, "down"), .fail(.connectionLost), .answer(429, "{}", [("Retry-After", "3")]),
            .answer(200, #"{"ok":true,"checkpoint":{"checkpoint_id":"c","finetune_id":"f","step":4}}"#),
        ])
        let events = EventLog()
        let checkpoint = try await RetryReporting.$observer.withValue(RetryObserver { event in events.append(event.reason) }) {
            try await makeClient(transport, clock: clock).saveCheckpoint(finetuneID: "f")
        }
        #expect(checkpoint.step == 4)
        #expect(transport.requests.count == 4)
        #expect(clock.sleeps == [.seconds(1), .seconds(2), .seconds(3)])
        #expect(events.items == ["http_503", "connection_lost", "rate_limited"])
    }

    @Test func unauthorizedIsNeverRetriedAndTheKeyIsRedactedFromTheMessage() async throws {
        let transport = ScriptedTransport([.answer(401, #"{"error":{"message":"bad key sk-test-SECRET-123"}}"#)])
        let error = try await #require(throws: APIError.self) {
            try await makeClient(transport).finetune(id: "x")
        }
        #expect(error.kind == .unauthorized)
        #expect(error.status == 401)
        #expect(transport.requests.count == 1)
        #expect(!error.description.contains("SECRET"))
        #expect(error.message == "bad key [redacted]")
        #expect(error.endpoint == "GET /tuning/finetunes/x")
    }

    @Test(arguments: [404, 409, 410, 400])
    func clientErrorsAreTypedAndNotRetried(status: Int) async throws {
        let transport = ScriptedTransport([.answer(status, #"{"error":"nope"}"#)])
        let error = try await #require(throws: APIError.self) {
            try await makeClient(transport).deleteCheckpoint(finetuneID: "f", step: 3)
        }
        let expected: [Int: APIError.Kind] = [404: .notFound, 409: .conflict, 410: .gone, 400: .badRequest]
        #expect(error.kind == expected[status])
        #expect(error.message == "nope")
        #expect(transport.requests.count == 1)
    }

    @Test func trainStepIsNotRetriedAfterA502AndIsReportedAmbiguous() async throws {
        let transport = ScriptedTransport([.answer(502, "bad gateway"), .answer(200, "{}")])
        let error = try await #require(throws: APIError.self) {
            try await makeClient(transport).trainStep(finetuneID: "f", groups: [group], lr: 0.002)
        }
        #expect(error.isAmbiguous)
        #expect(transport.requests.count == 1)
    }

    @Test(arguments: [TransportFailure.timeout, .connectionLost, .other])
    func trainStepIsAmbiguousWhenTheConnectionFailsAfterSending(failure: TransportFailure) async throws {
        let transport = ScriptedTransport([.fail(failure), .answer(200, "{}")])
        let error = try await #require(throws: APIError.self) {
            try await makeClient(transport).trainStep(finetuneID: "f", groups: [group], lr: nil)
        }
        #expect(error.isAmbiguous)
        #expect(transport.requests.count == 1)
    }

    @Test func trainStepRetriesA429AndAConnectFailure() async throws {
        let clock = VirtualClock()
        let transport = ScriptedTransport([.answer(429, "", [("retry-after-ms", "1500")]), .fail(.connect), .answer(200, #"{"step":7,"kl":0.01}"#)])
        let result = try await makeClient(transport, clock: clock).trainStep(finetuneID: "f", groups: [group], lr: 0.002)
        #expect(result.step == 7)
        #expect(result.numbers["kl"] == 0.01)
        #expect(transport.requests.count == 3)
        #expect(clock.sleeps == [.milliseconds(1500), .seconds(2)])
    }

    @Test func trainStepAcceptsAnEmptyBodyAndUnknownFields() async throws {
        let empty = try await makeClient(ScriptedTransport([.answer(200, "")])).trainStep(finetuneID: "f", groups: [group], lr: nil)
        #expect(empty.raw.text == "{}")
        let extra = try await makeClient(ScriptedTransport([.answer(200, #"{"applied":true,"grad_norm":1.5,"x":{"y":[1]}}"#)]))
            .trainStep(finetuneID: "f", groups: [group], lr: nil)
        #expect(extra.numbers == ["grad_norm": 1.5])
        #expect(extra.raw["x"]?.text == #"{"y":[1]}"#)
    }

    @Test func givesUpAfterMaxAttemptsWithTheLastError() async throws {
        let transport = ScriptedTransport(Array(repeating: .answer(500, "boom"), count: 10))
        let error = try await #require(throws: APIError.self) {
            try await makeClient(transport).listFinetunes()
        }
        #expect(error.kind == .server)
        #expect(error.attempts == 4)
        #expect(!error.isAmbiguous)
        #expect(transport.requests.count == 4)
    }

    @Test func malformedAnswersBecomeUndecodableErrorsNotCrashes() async throws {
        let bodies = ["not json", "{}", #"{"finetunes":"x"}"#, "[1,2]", #"{"finetunes":[{"name":1}]}"#]
        for body in bodies {
            let error = try await #require(throws: APIError.self) {
                try await makeClient(ScriptedTransport([.answer(200, body)])).listFinetunes()
            }
            #expect(error.kind == .undecodable, "\(body)")
        }
    }
}

final class EventLog: Sendable {
    private let state = Mutex<[String]>([])
    func append(_ item: String) { state.withLock { $0.append(item) } }
    var items: [String] { state.withLock { $0 } }
}
