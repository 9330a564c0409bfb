/// Every rollout the simulator issued, by id: a digest of its meaning and of the echoed request
/// it belongs to. A rollout sent back to train_step must match both. Only digests are kept, and
/// the oldest entries are forgotten past `capacity`, so memory stays bounded.
package struct RolloutRegistry: Sendable {
    package struct Entry: Sendable {
        package let digest: String
        package let requestDigest: String
        package let finetuneID: String
        package var trained = false
    }

    package let capacity: Int
    private var entries: [String: Entry] = [:]
    /// Issue order, for forgetting the oldest; `head` is the first still-live position.
    private var order: [String] = []
    private var head = 0

    package init(capacity: Int = 500_000) { self.capacity = capacity }

    package subscript(id: String) -> Entry? { entries[id] }

    package mutating func register(id: String, entry: Entry) {
        entries[id] = entry
        order.append(id)
        while entries.count > capacity, head < order.count {
            entries[order[head]] = nil
            head += 1
        }
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    /// Marks a rollout trained on; returns whether it already was.
    package mutating func markTrained(_ id: String) -> Bool {
        guard var entry = entries[id] else { return false }
        let before = entry.trained
        entry.trained = true
        entries[id] = entry
        return before
    }
}
