import MoondreamAPI
import Testing

/// The one waiter queue (`AppliedSteps` and `InFlightLimiter` are built on it).
@Suite struct WaiterQueueTests {
    @Test func waitersLeaveInArrivalOrderByIdOrByWhatTheyNeedAndEachOnce() async throws {
        let (stream, feed) = AsyncStream<CheckedContinuation<Int, any Error>>.makeStream()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask { try await withCheckedThrowingContinuation { feed.yield($0) } }
            }
            var queue = WaiterQueue<Int, Int>()
            #expect(queue.isEmpty)
            var ids: [UInt64] = []
            var iterator = stream.makeAsyncIterator()
            for need in [3, 1, 2, 1] {
                let id = queue.nextID()
                ids.append(id)
                let continuation = await iterator.next()
                queue.append(id: id, need: need, continuation: try #require(continuation))
            }
            #expect(Set(ids).count == 4)
            #expect(queue.count == 4)
            let ready = queue.removeAll { $0 <= 1 }
            #expect(ready.map(\.need) == [1, 1], "those whose need is met, in arrival order")
            let removed = queue.remove(id: ids[0])
            let first = try #require(removed)
            #expect(first.need == 3)
            #expect(queue.remove(id: ids[0]) == nil, "a waiter leaves once")
            let popped = queue.popFirst()
            let last = try #require(popped)
            #expect(last.need == 2)
            #expect(queue.isEmpty)
            for waiter in ready + [first, last] { waiter.resume(returning: waiter.need) }
            var results: [Int] = []
            for try await value in group { results.append(value) }
            #expect(results.sorted() == [1, 1, 2, 3])
        }
    }
}
