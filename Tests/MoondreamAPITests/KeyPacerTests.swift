import Foundation
import Synchronization
import Testing
@testable import MoondreamAPI

/// Virtual time for one task at a time: `sleep` moves the clock on by what it was asked.
final class VirtualTime: Sendable {
    let start = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)
    var now: ContinuousClock.Instant { start + offset.withLock { $0 } }
    var elapsed: Double { let d = offset.withLock { $0 }.components; return Double(d.seconds) + Double(d.attoseconds) / 1e18 }
    func advance(_ duration: Duration) { offset.withLock { $0 += duration } }
    var environment: RetryEnvironment {
        RetryEnvironment(now: { self.now }, sleep: { self.advance($0) }, date: { Date() }, random: { 0.5 })
    }
}

@Suite struct KeyPacerTests {
    func outcome(_ status: Int, retryAfter: Duration? = nil) -> RequestBudgetOutcome {
        RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: status, retryAfter: retryAfter)
    }

    @Test func anUnpacedKeySendsAtOnce() async throws {
        let time = VirtualTime()
        let pacer = KeyPacer(ceiling: nil, environment: time.environment)
        for _ in 0..<20 {
            try await pacer.acquire()
            pacer.release(outcome(200))
        }
        #expect(time.elapsed == 0)
        #expect(pacer.pace.accepted == 20)
    }

    @Test func theStatedLimitSpacesRequests() async throws {
        let time = VirtualTime()
        let pacer = KeyPacer(ceiling: 4, environment: time.environment)
        for _ in 0..<9 {
            try await pacer.acquire()
            pacer.release(outcome(200))
        }
        #expect(abs(time.elapsed - 2.0) < 0.01, "9 requests at 4/s take 2 s, took \(time.elapsed)")
    }

    @Test func a429HoldsTheNextRequestForRetryAfterThenPacesBelowWhatWasSent() async throws {
        let time = VirtualTime()
        let pacer = KeyPacer(ceiling: nil, environment: time.environment)
        for _ in 0..<10 {
            try await pacer.acquire()
            pacer.release(outcome(200))
            time.advance(.milliseconds(100))
        }
        try await pacer.acquire()
        pacer.release(outcome(429, retryAfter: .seconds(2)))
        let heldAt = time.elapsed
        try await pacer.acquire()
        #expect(time.elapsed - heldAt >= 1.999, "no request during the hold")
        pacer.release(outcome(200))  // the first answer after the hold settles the cut
        let rate = try #require(pacer.pace.rate)
        #expect(abs(rate - 9.5) < 0.01, "0.95 × the 10 a second accepted, got \(rate)")
        let before = time.elapsed
        try await pacer.acquire()
        #expect(time.elapsed - before >= 1 / rate - 0.001, "the next one a paced interval later")
    }

    @Test func aCancelledWaitThrowsAndTakesNoSlot() async throws {
        // The live clock: one request every 50 s, so that the second waits however slow the machine.
        let pacer = KeyPacer(ceiling: 0.02)
        try await pacer.acquire()
        let waiting = Task { try await pacer.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }
}
