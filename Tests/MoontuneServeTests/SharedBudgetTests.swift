import Foundation
import MoondreamAPI
import Synchronization
import Testing
@testable import MoontuneServe

/// A value shared with child tasks.
final class Shared<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ value: T) { self.value = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending T) -> sending R) -> R { value.withLock(body) }
}

/// A 200 answer.
func ok(_ endpoint: String = "POST /tuning/rollouts") -> RequestBudgetOutcome {
    RequestBudgetOutcome(endpoint: endpoint, status: 200, retryAfter: nil)
}

@Suite struct SharedBudgetTests {
    @Test func neverMoreThanMaxInFlightAcrossJobs() async throws {
        let budget = SharedBudget(maxInFlight: 3)
        let jobs = (1...4).map { budget.join(job: Int64($0), keyID: "k", priority: 0) }
        let peak = Shared(0)
        let current = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for job in jobs {
                for _ in 0..<5 {
                    group.addTask {
                        try await job.acquire()
                        let now = current.withLock { $0 += 1; return $0 }
                        peak.withLock { $0 = max($0, now) }
                        try await Task.sleep(for: .milliseconds(2))
                        current.withLock { $0 -= 1 }
                        job.release(ok())
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.withLock { $0 } <= 3)
        #expect(budget.peak == 3)
        #expect(budget.inFlight == 0)
    }

    @Test func aFreedPermitGoesToTheJobWithTheFewestInFlightForItsWeight() async throws {
        let budget = SharedBudget(maxInFlight: 2)
        let a = budget.join(job: 1, keyID: "k", priority: 0)
        let b = budget.join(job: 2, keyID: "k", priority: 0)
        try await a.acquire()
        try await a.acquire()
        let order = Shared<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            // a asks first, b second: b has none in flight, so b goes first though it came later.
            group.addTask { try await a.acquire(); order.withLock { $0.append("a") } }
            try await Task.sleep(for: .milliseconds(20))
            group.addTask { try await b.acquire(); order.withLock { $0.append("b") } }
            try await Task.sleep(for: .milliseconds(20))
            a.release(ok())
            try await Task.sleep(for: .milliseconds(20))
            #expect(order.withLock { $0 } == ["b"])
            a.release(ok())
            try await group.waitForAll()
        }
        #expect(order.withLock { $0 } == ["b", "a"])
    }

    @Test func priorityWeightsTheShare() {
        #expect(SharedBudget.weight(priority: 0) == 1)
        #expect(SharedBudget.weight(priority: 3) == 4)
        #expect(SharedBudget.weight(priority: -1) == 0.5)
    }

    /// Waits (on the real clock, briefly) until `condition` holds: for grants made by other tasks.
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func aRetryAfterOnOneJobHoldsEveryJobOnThatKeyUntilItEndsWithNothingPolling() async throws {
        let clock = ManualMonotonicClock()
        let budget = SharedBudget(maxInFlight: 4, environment: clock.environment)
        let a = budget.join(job: 1, keyID: "k1", priority: 0)
        let b = budget.join(job: 2, keyID: "k1", priority: 0)
        let other = budget.join(job: 3, keyID: "k2", priority: 0)
        try await a.acquire()
        a.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: 429, retryAfter: .seconds(2)))
        let held = try #require(budget.keys().first { $0.keyID == "k1" }?.heldUntilMs)
        #expect(held > budget.keys()[0].updatedAtMs + 1900)
        let granted = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await b.acquire(); granted.withLock { $0 = true } }
            try await other.acquire()  // another key is not held
            other.release(ok())
            try await eventually { clock.sleeping == 1 }
            #expect(clock.sleeping == 1, "one waiter sleeps until the hold ends, on the key's behalf")
            clock.advance(.milliseconds(1999))
            try await Task.sleep(for: .milliseconds(30))
            #expect(granted.withLock { $0 } == false, "the hold was not kept")
            clock.advance(.milliseconds(2))
            try await group.waitForAll()  // the end of the hold wakes it: no pump, no release
        }
        #expect(granted.withLock { $0 })
        #expect(budget.paces().first { $0.keyID == "k1" }?.rateLimited == 1)
        #expect(budget.paces().first { $0.keyID == "k2" }?.pacePerSecond == nil, "the other key stays unpaced")
    }

    @Test func aPacedKeyGrantsOneWaiterPerIntervalAcrossItsJobs() async throws {
        let clock = ManualMonotonicClock()
        let budget = SharedBudget(maxInFlight: 16, environment: clock.environment)
        let a = budget.join(job: 1, keyID: "k", priority: 0)
        let b = budget.join(job: 2, keyID: "k", priority: 0)
        a.limit(requestsPerSecond: 10)
        #expect(budget.paces()[0].pacePerSecond == 10)
        try await a.acquire()  // the first leaves at once
        let granted = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for job in [a, b, a, b] {
                group.addTask { try await job.acquire(); granted.withLock { $0 += 1 } }
            }
            try await eventually { clock.sleeping == 1 }
            #expect(granted.withLock { $0 } == 0, "the next slot is 100 ms away")
            for expected in 1...4 {
                clock.advance(.milliseconds(100))
                try await eventually { granted.withLock { $0 } == expected }
                try await Task.sleep(for: .milliseconds(10))
                #expect(granted.withLock { $0 } == expected, "one per interval, not all at once")
            }
            try await group.waitForAll()
        }
        #expect(budget.inFlight(job: 1) == 3 && budget.inFlight(job: 2) == 2, "fair share across the key's jobs")
    }

    @Test func aCancelledTimerHolderHandsTheTimerOn() async throws {
        let clock = ManualMonotonicClock()
        let budget = SharedBudget(maxInFlight: 8, environment: clock.environment)
        let job = budget.join(job: 1, keyID: "k", priority: 0)
        try await job.acquire()
        job.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: 429, retryAfter: .seconds(1)))
        let first = Task { try await job.acquire() }
        try await eventually { clock.sleeping == 1 }
        let second = Task { try await job.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        try await eventually { clock.sleeping == 1 }
        #expect(clock.sleeping == 1, "the other waiter now sleeps on the key's behalf")
        clock.advance(.seconds(1))
        try await second.value
        #expect(budget.inFlight == 1)
    }

    @Test func aJobThatLeftReturnsItsPermitsOnceAndLateReleasesCountNothing() async throws {
        let budget = SharedBudget(maxInFlight: 2)
        let a = budget.join(job: 1, keyID: "k", priority: 0)
        try await a.acquire()
        try await a.acquire()
        #expect(budget.inFlight == 2)
        budget.leave(job: 1)
        #expect(budget.inFlight == 0)
        a.release(ok())
        a.release(ok())
        #expect(budget.inFlight == 0, "not decremented twice")
        let b = budget.join(job: 2, keyID: "k", priority: 0)
        try await b.acquire()
        try await b.acquire()
        let third = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await b.acquire(); third.withLock { $0 = true } }
            try await Task.sleep(for: .milliseconds(30))
            #expect(third.withLock { $0 } == false, "the cap still holds after the late releases")
            b.release(ok())
            try await group.waitForAll()
        }
        #expect(budget.inFlight == 2)
    }

    @Test func aCancelledWaitLeavesNoPermitBehind() async throws {
        let budget = SharedBudget(maxInFlight: 1)
        let job = budget.join(job: 1, keyID: "k", priority: 0)
        try await job.acquire()
        let waiting = Task { try await job.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        job.release(ok())
        #expect(budget.inFlight == 0)
        try await job.acquire()
        #expect(budget.inFlight == 1)
    }

    @Test func keyIDsAreAShortDigestNeverTheKey() {
        let id = KeyIdentity.id(ofKey: "sk-secret-123")
        #expect(id.count == 12)
        #expect(!id.contains("secret"))
        #expect(id == KeyIdentity.id(ofKey: "sk-secret-123"))
        #expect(id != KeyIdentity.id(ofKey: "sk-secret-124"))
    }

    @Test func endpointsAreLabelledWithoutIDs() {
        #expect(RequestBudgetOutcome.route(method: "POST", path: "/tuning/finetunes/01HXYZABCDEFGHJKMNPQRS/checkpoints/save")
            == "POST /tuning/finetunes/:id/checkpoints/save")
        #expect(RequestBudgetOutcome.route(method: "POST", path: "/tuning/rollouts") == "POST /tuning/rollouts")
    }
}
