import Foundation
import Synchronization
import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

@Suite("The simulator's clock: manual in tests, and every wait ends at a stop")
struct SimulatorClockTests {
    /// Whether a task has got past its wait, and the clock's time when it did.
    final class Finish: Sendable {
        private let state = Mutex<Duration?>(nil)
        var at: Duration? { state.withLock { $0 } }
        func mark(_ now: Duration) { state.withLock { $0 = now } }
    }

    final class Counter: Sendable {
        private let state = Mutex(0)
        var value: Int { state.withLock { $0 } }
        func add() { state.withLock { $0 += 1 } }
    }

    @Test("a manual clock wakes sleepers when it reaches their deadline, not before, and moves the epoch with it")
    func manualClockWakesAtTheDeadline() async throws {
        let clock = ManualSimulatorClock(epochMilliseconds: 1_000)
        let finish = Finish()
        let sleeper = Task {
            try await clock.sleep(until: .milliseconds(300))
            finish.mark(clock.now)
        }
        try await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(299))
        #expect(clock.sleeperCount == 1 && finish.at == nil)
        clock.advance(by: .milliseconds(1))
        try await sleeper.value
        #expect(finish.at == .milliseconds(300))
        #expect(clock.epochMilliseconds == 1_300 && clock.sleeperCount == 0)
        try await clock.sleep(until: .milliseconds(100))  // already past: returns at once
    }

    @Test("a cancelled sleep on the manual clock ends at once with CancellationError")
    func manualClockSleepIsCancellable() async throws {
        let clock = ManualSimulatorClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        try await clock.waitForSleepers(1)
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleeperCount == 0 && clock.now == .zero)
    }

    @Test("wake(at:) calls back when the time comes, or at once when it has passed")
    func wakeCallsBack() async throws {
        let clock = ManualSimulatorClock()
        let calls = Counter()
        clock.wake(at: .seconds(2)) { calls.add() }
        clock.advance(by: .seconds(1))
        #expect(calls.value == 0)
        clock.advance(by: .seconds(1))
        #expect(calls.value == 1)
        clock.wake(at: .seconds(1)) { calls.add() }
        #expect(calls.value == 2)
    }

    @Test("a pause ends at its deadline, at a stop, or at cancellation; on a manual clock nobody moves, the stop ends it")
    func pauseEndsAtDeadlineStopOrCancellation() async throws {
        let clock = ManualSimulatorClock()
        let flag = ShutdownFlag()
        let finish = Finish()
        let timed = Task {
            await flag.pause(for: .milliseconds(500), on: clock)
            finish.mark(clock.now)
        }
        try await clock.waitForSleepers(1)
        clock.advance(by: .milliseconds(500))
        await timed.value
        #expect(finish.at == .milliseconds(500))

        let cancelled = Task { await flag.pause(for: .seconds(60), on: clock) }
        try await clock.waitForSleepers(1)
        cancelled.cancel()
        await cancelled.value
        #expect(clock.now == .milliseconds(500), "cancellation ended it, not the time")

        let stopped = Task { await flag.pause(for: .seconds(60), on: clock) }
        try await clock.waitForSleepers(1)
        flag.set()
        await stopped.value
        #expect(clock.now == .milliseconds(500), "the stop ended it, not the time")
        await flag.pause(for: .seconds(60), on: clock)  // after the stop: returns at once
    }

    @Test("a pause that ignores cancellation goes on after it, and ends at its deadline or at a stop")
    func pauseIgnoringCancellation() async throws {
        let clock = ManualSimulatorClock()
        let flag = ShutdownFlag()
        let finish = Finish()
        let slow = Task {
            await flag.pauseIgnoringCancellation(for: .milliseconds(1500), on: clock)
            finish.mark(clock.now)
        }
        try await clock.waitForSleepers(1)
        slow.cancel()
        // A wait that honoured the cancellation would end within microseconds; give it 100 ms.
        let grace = ContinuousClock.now + .milliseconds(100)
        while ContinuousClock.now < grace, finish.at == nil { await Task.yield() }
        #expect(finish.at == nil, "the cancellation did not end it")
        clock.advance(by: .milliseconds(1500))
        await slow.value
        #expect(finish.at == .milliseconds(1500))

        let stopped = Task { await flag.pauseIgnoringCancellation(for: .seconds(60), on: clock) }
        try await clock.waitForSleepers(1)
        flag.set()
        await stopped.value
        #expect(clock.now == .milliseconds(1500), "the stop ended it, not the time")
    }

    @Test("the system clock sleeps to its deadline and calls back after it")
    func systemClock() async throws {
        let clock = SystemSimulatorClock()
        let start = clock.now
        try await clock.sleep(until: start + .milliseconds(20))
        #expect(clock.now - start >= .milliseconds(20))
        let gate = AsyncStream<Duration>.makeStream()
        clock.wake(at: clock.now + .milliseconds(20)) { gate.continuation.yield(clock.now); gate.continuation.finish() }
        let asked = clock.now
        for await woke in gate.stream { #expect(woke - asked >= .milliseconds(19)) }
        #expect(abs(clock.epochMilliseconds - Int64((Date().timeIntervalSince1970 * 1000).rounded())) < 1000)
    }
}
