import Foundation
import Testing
@testable import MoondreamAPI

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 5, baseDelay: .seconds(1), maxDelay: .seconds(8), giveUpAfter: .seconds(60))

    func error(_ kind: APIError.Kind, status: Int? = nil, retryAfter: Duration? = nil) -> APIError {
        APIError(kind: kind, endpoint: "POST /x", status: status, message: "", retryAfter: retryAfter)
    }

    @Test func backoffDoublesUpToTheCapWithJitterBetweenHalfAndAll() {
        #expect(policy.backoff(failures: 1, random: 0.999_999) == .milliseconds(1000))
        #expect(policy.backoff(failures: 1, random: 0) == .milliseconds(500))
        #expect(policy.backoff(failures: 3, random: 0.999_999) == .milliseconds(4000))
        #expect(policy.backoff(failures: 10, random: 0.999_999) == .milliseconds(8000))
        #expect(policy.backoff(failures: 1000, random: 0) == .milliseconds(4000))
    }

    @Test func safeCallsAreRetriedOnTransientFailures() {
        for kind in [APIError.Kind.server, .rateLimited, .transport(.timeout), .transport(.connectionLost), .transport(.connect)] {
            let decision = policy.decide(after: error(kind), attempts: 1, elapsed: .zero, idempotent: true, random: 0)
            #expect(decision == .retry(after: .milliseconds(500)), "\(kind)")
        }
    }

    @Test func permanentFailuresAreNeverRetried() {
        for kind in [APIError.Kind.badRequest, .unauthorized, .notFound, .conflict, .gone, .undecodable, .otherClientError] {
            #expect(policy.decide(after: error(kind), attempts: 1, elapsed: .zero, idempotent: true, random: 0) == .fail(ambiguous: false))
            #expect(policy.decide(after: error(kind), attempts: 1, elapsed: .zero, idempotent: false, random: 0) == .fail(ambiguous: false))
        }
    }

    @Test func trainStepIsAmbiguousAfterA5xxATimeoutOrALostConnection() {
        for kind in [APIError.Kind.server, .transport(.timeout), .transport(.connectionLost), .transport(.other), .transport(.responseTooLarge)] {
            #expect(policy.decide(after: error(kind), attempts: 1, elapsed: .zero, idempotent: false, random: 0) == .fail(ambiguous: true), "\(kind)")
        }
    }

    @Test func trainStepIsRetriedWhenItCertainlyDidNotArrive() {
        #expect(policy.decide(after: error(.rateLimited, retryAfter: .seconds(3)), attempts: 1, elapsed: .zero, idempotent: false, random: 0)
                == .retry(after: .seconds(3)))
        #expect(policy.decide(after: error(.transport(.connect)), attempts: 2, elapsed: .zero, idempotent: false, random: 0)
                == .retry(after: .milliseconds(1000)))
    }

    @Test func retryAfterWinsOverBackoffUnlessAbsurd() {
        #expect(policy.decide(after: error(.server, retryAfter: .seconds(7)), attempts: 1, elapsed: .zero, idempotent: true, random: 0)
                == .retry(after: .seconds(7)))
        let absurd = policy.decide(after: error(.server, retryAfter: .seconds(100_000)), attempts: 1, elapsed: .zero, idempotent: true, random: 0)
        #expect(absurd == .retry(after: .milliseconds(500)))
    }

    @Test func givesUpAfterMaxAttemptsOrTheTimeBudget() {
        #expect(policy.decide(after: error(.server), attempts: 5, elapsed: .zero, idempotent: true, random: 0) == .fail(ambiguous: false))
        #expect(policy.decide(after: error(.server), attempts: 2, elapsed: .seconds(59.9), idempotent: true, random: 0) == .fail(ambiguous: false))
        // Ambiguity survives giving up on a train_step that was retried for a 429 and then lost.
        #expect(policy.decide(after: error(.server), attempts: 5, elapsed: .zero, idempotent: false, random: 0) == .fail(ambiguous: true))
    }
}

@Suite struct RetryAfterTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    func parse(_ headers: [(String, String)]) -> Duration? {
        RetryAfter.parse(headers: headers, now: now, limit: .seconds(600))
    }

    @Test func readsSecondsDatesAndMilliseconds() {
        #expect(parse([("Retry-After", "3")]) == .seconds(3))
        #expect(parse([("retry-after", "1.5")]) == .milliseconds(1500))
        #expect(parse([("retry-after-ms", "250")]) == .milliseconds(250))
        #expect(parse([("Retry-After", "9"), ("retry-after-ms", "120")]) == .milliseconds(120))
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        #expect(parse([("Retry-After", "Tue, 14 Nov 2023 22:13:30 GMT")]) == .seconds(10))
        #expect(parse([("Retry-After", "Tuesday, 14-Nov-23 22:13:25 GMT")]) == .seconds(5))
        #expect(parse([("Retry-After", "Tue Nov 14 22:13:22 2023")]) == .seconds(2))
    }

    @Test func ignoresGarbageNegativeNonFiniteAndFarFuture() {
        for value in ["", "soon", "-1", "NaN", "inf", "1e309", "999999", "Tue, 14 Nov 2023 22:13:10 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"] {
            #expect(parse([("Retry-After", value)]) == nil, "\(value)")
        }
        #expect(parse([("retry-after-ms", "-5")]) == nil)
        #expect(parse([("retry-after-ms", "nan"), ("Retry-After", "2")]) == .seconds(2))
        #expect(parse([]) == nil)
    }
}
