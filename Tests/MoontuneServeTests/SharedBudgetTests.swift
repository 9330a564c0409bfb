import Foundation
import MoondreamAPI
import Synchronization
import Testing
@testable import MoontuneServe

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now = Shared<Int64>(1_000_000)
    var ms: Int64 { now.withLock { $0 } }
    func advance(_ ms: Int64) { now.withLock { $0 += ms } }
}

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

    @Test func aRetryAfterOnOneJobHoldsEveryJobOnThatKeyButNotOtherKeys() async throws {
        let clock = ManualClock()
        let budget = SharedBudget(maxInFlight: 4, nowMs: { clock.ms })
        let a = budget.join(job: 1, keyID: "k1", priority: 0)
        let b = budget.join(job: 2, keyID: "k1", priority: 0)
        let other = budget.join(job: 3, keyID: "k2", priority: 0)
        try await a.acquire()
        a.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: 429, retryAfter: .seconds(2)))
        #expect(budget.keys().first { $0.keyID == "k1" }?.heldUntilMs == clock.ms + 2000)
        let granted = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await b.acquire(); granted.withLock { $0 = true } }
            try await other.acquire()  // another key is not held
            other.release(ok())
            try await Task.sleep(for: .milliseconds(30))
            budget.pump()
            #expect(granted.withLock { $0 } == false, "the hold was not kept")
            clock.advance(2001)
            budget.pump()
            try await group.waitForAll()
        }
        #expect(granted.withLock { $0 })
    }

    @Test func repeated429sHalveTheKeysBudgetAndSuccessesRaiseItSlowly() async throws {
        let clock = ManualClock()
        let budget = SharedBudget(maxInFlight: 16, nowMs: { clock.ms })
        let job = budget.join(job: 1, keyID: "k", priority: 0)
        func once(_ status: Int) async throws {
            try await job.acquire()
            job.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: status, retryAfter: nil))
        }
        try await once(429)
        #expect(budget.keys()[0].budget == 8)
        try await once(429)  // the same burst: not halved again
        #expect(budget.keys()[0].budget == 8)
        clock.advance(1500)
        try await once(429)
        #expect(budget.keys()[0].budget == 4)
        for _ in 0..<4 { clock.advance(1500); try await once(429) }
        #expect(budget.keys()[0].budget == 1, "never below 1")
        for _ in 0..<3 { try await once(200) }
        #expect(budget.keys()[0].budget == 2, "1 + 1/1 + 1/2 + 1/2.5: additive, about one per round of the budget")
        for _ in 0..<500 { try await once(200) }
        #expect(budget.keys()[0].budget == 16, "never above --max-in-flight")
        #expect(budget.keys()[0].rateLimited == 7)
    }

    @Test func aLoweredBudgetBoundsTheKeysRequestsInFlight() async throws {
        let clock = ManualClock()
        let budget = SharedBudget(maxInFlight: 8, nowMs: { clock.ms })
        let job = budget.join(job: 1, keyID: "k", priority: 0)
        try await job.acquire()
        job.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: 429, retryAfter: nil))
        clock.advance(1500)
        try await job.acquire()
        job.release(RequestBudgetOutcome(endpoint: "POST /tuning/rollouts", status: 429, retryAfter: nil))
        #expect(budget.keys()[0].budget == 2)
        try await job.acquire()
        try await job.acquire()
        let third = Shared(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await job.acquire(); third.withLock { $0 = true } }
            try await Task.sleep(for: .milliseconds(30))
            #expect(third.withLock { $0 } == false)
            job.release(ok())
            try await group.waitForAll()
        }
        #expect(third.withLock { $0 })
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
