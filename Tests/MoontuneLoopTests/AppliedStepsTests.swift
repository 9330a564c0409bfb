@testable import MoontuneLoop
import Testing

@Suite struct AppliedStepsTests {
    @Test func aWaitForAnAppliedStepReturnsAtOnceWithTheCurrentStep() async throws {
        let applied = AppliedSteps(applied: 4)
        #expect(try await applied.wait(until: 3) == 4)
        #expect(try await applied.wait(until: 4) == 4)
    }

    @Test func waitersGoWhenTheirStepIsAppliedAndNotBefore() async throws {
        let applied = AppliedSteps(applied: 0)
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for need in [1, 2] {
                group.addTask { (need, try await applied.wait(until: need)) }
            }
            // Let both reach their wait, then apply step 1: only the first may go.
            try await Task.sleep(for: .milliseconds(50))
            applied.advance(to: 1)
            let first = try await group.next()
            #expect(first?.0 == 1 && first?.1 == 1)
            try await Task.sleep(for: .milliseconds(50))
            applied.advance(to: 2)
            let second = try await group.next()
            #expect(second?.0 == 2 && second?.1 == 2)
        }
    }

    @Test func advanceNeverMovesBackButResetDoes() {
        let applied = AppliedSteps(applied: 5)
        applied.advance(to: 3)
        #expect(applied.applied == 5)
        applied.reset(to: 3)
        #expect(applied.applied == 3)
    }

    @Test func aCancelledWaitThrowsAndLeavesNoWaiterBehind() async throws {
        let applied = AppliedSteps(applied: 0)
        let waiting = Task { try await applied.wait(until: 10) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        applied.advance(to: 10)
        #expect(try await applied.wait(until: 10) == 10)
    }
}
