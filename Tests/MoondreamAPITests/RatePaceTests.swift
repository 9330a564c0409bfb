import Foundation
import Testing
@testable import MoondreamAPI

/// The pacer's decisions with made-up instants: nothing sleeps.
@Suite struct RatePaceTests {
    let start = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64((seconds * 1000).rounded())) }
    func seconds(_ instant: ContinuousClock.Instant) -> Double {
        let d = (instant - start).components
        return Double(d.seconds) + Double(d.attoseconds) / 1e18
    }

    /// Sends `count` requests as fast as the pace allows from `from`, each answered `status` at
    /// once; returns when the last one left.
    func send(_ pace: inout RatePace, count: Int, from: Double, status: Int = 200) -> Double {
        var now = at(from)
        for _ in 0..<count {
            let departure = pace.earliestDeparture(now: now)
            pace.depart(at: departure, askedAt: now)
            pace.record(status: status, retryAfter: nil, hint: nil, now: departure)
            now = departure
        }
        return seconds(now)
    }

    /// `perSecond` requests a second for one second from 0, each answered 200 at once, unpaced.
    func warm(_ pace: inout RatePace, perSecond: Int) {
        for index in 0..<perSecond {
            let t = at(Double(index) / Double(perSecond))
            pace.depart(at: t, askedAt: t)
            pace.record(status: 200, retryAfter: nil, hint: nil, now: t)
        }
    }

    @Test func startsUnpacedOrAtTheStatedLimit() {
        let unpaced = RatePace()
        #expect(unpaced.rate == nil)
        #expect(unpaced.earliestDeparture(now: at(5)) == at(5))
        var stated = RatePace(ceiling: 4)
        #expect(stated.rate == 4)
        let last = send(&stated, count: 9, from: 0)
        // 9 departures at 4/s: the first at 0, the last two seconds later, never sooner.
        #expect(last >= 1.99 && last <= 2.2)
    }

    @Test func a429CutsThePaceBelowWhatWasAcceptedAndHoldsForRetryAfter() {
        var pace = RatePace()
        // 10 accepted in the first second (unpaced), then a 429 with Retry-After 1 s.
        for index in 0..<10 {
            pace.depart(at: at(Double(index) * 0.1), askedAt: at(Double(index) * 0.1))
            pace.record(status: 200, retryAfter: nil, hint: nil, now: at(Double(index) * 0.1))
        }
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(1.0))
        let rate = try! #require(pace.rate)
        #expect(rate < 10, "below the 10/s that was just accepted")
        #expect(rate >= 9, "a gentle cut (0.95×), not a collapse")
        #expect(pace.rateLimited == 1)
        #expect(pace.earliestDeparture(now: at(1.2)) == at(2.0), "held for the Retry-After")
        #expect(pace.held(at: at(1.5)) == at(2.0))
        #expect(pace.held(at: at(2.0)) == nil)
    }

    @Test func later429sOfTheSameHoldDoNotCutAgain() {
        var pace = RatePace(ceiling: 10)
        warm(&pace, perSecond: 10)
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(1.0))
        let once = pace.rate
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(1.5))
        #expect(pace.rate == once, "the same congestion")
        #expect(pace.held(at: at(2.2)) == at(2.5), "but the hold is lengthened")
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(3.0))
        #expect(pace.rate! < once!, "a 429 after the hold ended is a new event")
        #expect(pace.rateLimited == 3)
    }

    @Test func afterAHoldWaitersLeaveOneIntervalApartNotAllAtOnce() {
        var pace = RatePace()
        warm(&pace, perSecond: 5)
        pace.record(status: 429, retryAfter: .seconds(2), hint: nil, now: at(1))
        let rate = try! #require(pace.rate)
        // Ten waiters all ask during the hold.
        var departures: [Double] = []
        for _ in 0..<10 {
            let departure = pace.earliestDeparture(now: at(1.5))
            pace.depart(at: departure, askedAt: at(1.5))
            departures.append(seconds(departure))
        }
        #expect(abs(departures[0] - 3.0) < 0.001, "the first leaves when the hold ends")
        for (previous, next) in zip(departures, departures.dropFirst()) {
            #expect(next - previous >= 1 / (rate + 0.1) - 0.001, "spaced by the paced interval")
        }
        #expect(departures.last! - departures.first! > 1.5)
    }

    @Test func whileNo429ComesThePaceClimbsSlowly() {
        var pace = RatePace(tuning: RatePace.Tuning())
        warm(&pace, perSecond: 20)
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(1))
        pace.record(status: 200, retryAfter: nil, hint: nil, now: at(2.01))  // settles the cut
        let cut = try! #require(pace.rate)
        #expect(abs(cut - 19) < 0.01, "0.95 × the 20/s accepted")
        // A backlog for 10 seconds: every request waits for its slot.
        let end = send(&pace, count: Int(cut * 10), from: 2.02)
        let climbed = try! #require(pace.rate)
        #expect(climbed > cut, "room is made again")
        #expect(climbed < cut * 1.2, "slowly: 0.01 a second per request that waited, not a jump (\(cut) → \(climbed) in \(end) s)")
    }

    @Test func requestsThatDidNotWaitDoNotRaiseThePace() {
        var pace = RatePace(ceiling: 100)
        warm(&pace, perSecond: 10)
        pace.record(status: 429, retryAfter: nil, hint: nil, now: at(1))
        pace.record(status: 200, retryAfter: nil, hint: nil, now: at(2))  // settles the cut
        let cut = pace.rate
        var now = 3.0
        for _ in 0..<50 {
            pace.depart(at: at(now), askedAt: at(now))
            pace.record(status: 200, retryAfter: nil, hint: nil, now: at(now))
            now += 1
        }
        #expect(pace.rate == cut, "an idle key learns nothing about its limit")
    }

    @Test func theCutSettlesOnWhatWasAcceptedOnceTheAnswersAreIn() {
        // 8 sent at once against a limit of 4: the 429 comes back before the last 200s.
        var pace = RatePace()
        for _ in 0..<8 { pace.depart(at: at(0), askedAt: at(0)) }
        pace.record(status: 200, retryAfter: nil, hint: nil, now: at(0.01))
        pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(0.01))
        #expect(abs(pace.rate! - 7.6) < 0.01, "at once: 0.95 × what was sent")
        for _ in 0..<3 { pace.record(status: 200, retryAfter: nil, hint: nil, now: at(0.02)) }
        for _ in 0..<3 { pace.record(status: 429, retryAfter: .seconds(1), hint: nil, now: at(0.02)) }
        let generation = pace.generation
        pace.record(status: 200, retryAfter: nil, hint: nil, now: at(1.05))  // the first answer after the hold
        #expect(abs(pace.rate! - 3.8) < 0.01, "settled: 0.95 × the 4 accepted")
        #expect(pace.generation != generation, "slots reserved at 7.6/s are reserved again")
    }

    @Test func theStatedLimitIsNeverExceeded() {
        var pace = RatePace(ceiling: 3)
        _ = send(&pace, count: 2000, from: 0)
        #expect(pace.rate! <= 3)
    }

    @Test func a503WithRetryAfterHoldsLikeA429ButIsNotCountedAsOne() {
        var pace = RatePace(ceiling: 8)
        pace.record(status: 503, retryAfter: .seconds(3), hint: nil, now: at(0))
        #expect(pace.held(at: at(1)) == at(3))
        #expect(pace.rate! < 8)
        #expect(pace.rateLimited == 0)
        var plain = RatePace(ceiling: 8)
        plain.record(status: 503, retryAfter: nil, hint: nil, now: at(0))
        #expect(plain.held(at: at(0.01)) == nil, "a 503 without Retry-After is the retry policy's, not the pace's")
        #expect(plain.rate == 8)
    }

    @Test func rateLimitHeadersSetThePaceAndAnEmptyWindowHoldsUntilItsReset() {
        var pace = RatePace()
        let hint = RateLimitHint(limit: 10, window: .seconds(2), remaining: 0, reset: .milliseconds(1500))
        pace.record(status: 200, retryAfter: nil, hint: hint, now: at(0))
        #expect(pace.rate == 5)
        #expect(pace.held(at: at(1)) == at(1.5))
        // The server's stated rate caps the climb.
        _ = send(&pace, count: 500, from: 2)
        #expect(pace.rate! <= 5)
    }

    @Test func theStatedLimitCanOnlyBeLowered() {
        var pace = RatePace(ceiling: 10)
        pace.limit(to: 20)
        #expect(pace.rate == 10)
        pace.limit(to: 4)
        #expect(pace.rate == 4 && pace.ceiling == 4)
    }
}

/// Against a token bucket that says nothing but 429 + whole-second Retry-After, the pace settles
/// at the limit: few 429s, near the ideal. A simulation in made-up time (the pacer and the
/// simulator's own `TokenBuckets` logic, restated here in a few lines to keep the module apart).
@Suite struct RatePaceAgainstABucketTests {
    @Test(arguments: [4.0, 20.0]) func aBacklogAgainstABucketRunsNearTheLimitWithFew429s(limit: Double) {
        let start = ContinuousClock.now
        var pace = RatePace()
        var tokens = limit, last = 0.0
        var accepted = 0, refused = 0
        var now = 0.0
        let needed = Int(limit * 60)
        // Eight workers, 20 ms round trips: each asks again as soon as its answer comes.
        var ready = Array(repeating: 0.0, count: 8)
        while accepted < needed {
            let worker = ready.indices.min { ready[$0] < ready[$1] }!
            let asked = start + .milliseconds(Int64(ready[worker] * 1000))
            let departure = pace.earliestDeparture(now: asked)
            pace.depart(at: departure, askedAt: asked)
            let sent = Double((departure - start).components.seconds) + Double((departure - start).components.attoseconds) / 1e18
            tokens = min(limit, tokens + (sent - last) * limit); last = sent
            let answered = start + .milliseconds(Int64((sent + 0.02) * 1000))
            if tokens >= 1 {
                tokens -= 1; accepted += 1
                pace.record(status: 200, retryAfter: nil, hint: nil, now: answered)
            } else {
                refused += 1
                let wait = max(1, Int(((1 - tokens) / limit).rounded(.up)))
                pace.record(status: 429, retryAfter: .seconds(wait), hint: nil, now: answered)
            }
            ready[worker] = sent + 0.02
            now = sent + 0.02
        }
        let ideal = Double(needed) - limit
        #expect(ideal / limit / now >= 0.95, "share of the ideal \(ideal / limit / now)")
        #expect(Double(refused) / Double(accepted) <= 0.05, "429s per accepted \(Double(refused) / Double(accepted))")
    }
}
