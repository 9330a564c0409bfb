import Foundation
import Testing
@testable import MoondreamAPI

@Suite struct RateLimitHintTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func theIETFDraftsStructuredFieldsAreRead() throws {
        let hint = try #require(RateLimitHint.parse(headers: [("RateLimit-Policy", "\"default\";q=100;w=60"),
                                                              ("RateLimit", "\"default\";r=0;t=7")], now: now))
        #expect(hint.limit == 100)
        #expect(hint.window == .seconds(60))
        #expect(hint.remaining == 0)
        #expect(hint.reset == .seconds(7))
        #expect(abs(hint.requestsPerSecond! - 100.0 / 60) < 1e-9)
    }

    @Test func theOlderDraftFormIsRead() throws {
        let hint = try #require(RateLimitHint.parse(headers: [("ratelimit-policy", "10;w=1"),
                                                              ("ratelimit", "limit=10, remaining=3, reset=1")], now: now))
        #expect(hint.limit == 10)
        #expect(hint.window == .seconds(1))
        #expect(hint.remaining == 3)
        #expect(hint.reset == .seconds(1))
    }

    @Test func xRateLimitHeadersAreReadWithAResetInSecondsOrAsAUnixTime() throws {
        let relative = try #require(RateLimitHint.parse(headers: [("X-RateLimit-Limit", "2"), ("X-RateLimit-Remaining", "0"),
                                                                  ("X-RateLimit-Reset", "1")], now: now))
        #expect(relative.requestsPerSecond == 2)
        #expect(relative.remaining == 0)
        #expect(relative.reset == .seconds(1))
        let absolute = try #require(RateLimitHint.parse(headers: [("X-RateLimit-Reset", "1800000004")], now: now))
        #expect(absolute.reset == .seconds(4))
    }

    @Test func nonsenseIsDroppedAndNoHeadersGiveNothing() {
        #expect(RateLimitHint.parse(headers: [("Retry-After", "1")], now: now) == nil)
        #expect(RateLimitHint.parse(headers: [("X-RateLimit-Limit", "lots"), ("X-RateLimit-Remaining", "-3")], now: now) == nil)
        let far = RateLimitHint.parse(headers: [("X-RateLimit-Reset", "86400"), ("X-RateLimit-Limit", "5")], now: now)
        #expect(far?.reset == nil, "a reset a day away is absurd")
        #expect(far?.limit == 5)
    }
}
