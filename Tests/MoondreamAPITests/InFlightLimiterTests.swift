import Synchronization
import Testing
@testable import MoondreamAPI

@Suite struct InFlightLimiterTests {
    @Test func neverExceedsTheLimitAndReachesIt() async throws {
        let limiter = InFlightLimiter(limit: 3)
        let observedMax = MaxTracker()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await limiter.withPermit {
                        observedMax.record(limiter.inFlight)
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(limiter.peak == 3)
        #expect(observedMax.value == 3)
        #expect(limiter.inFlight == 0)
    }

    @Test func aCancelledWaiterLeavesAndDoesNotLeakAPermit() async throws {
        let limiter = InFlightLimiter(limit: 1)
        try await limiter.acquire()
        let waiter = Task { try await limiter.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        limiter.release()
        #expect(limiter.inFlight == 0)
        try await limiter.acquire()
        #expect(limiter.inFlight == 1)
        limiter.release()
    }
}

final class MaxTracker: Sendable {
    private let state = Mutex(0)
    func record(_ value: Int) { state.withLock { $0 = max($0, value) } }
    var value: Int { state.withLock { $0 } }
}
