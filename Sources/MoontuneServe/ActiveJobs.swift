import MoontuneStore
import ServiceLifecycle
import Synchronization

/// The jobs `serve` runs right now, each with the service group that stops it alone.
final class ActiveJobs: Sendable {
    struct Entry: Sendable {
        var entry: QueueEntry
        var keyID: String
        var group: ServiceGroup?
        var startedAtMs: Int64
    }

    private let jobs = Mutex<[Int64: Entry]>([:])

    var count: Int { jobs.withLock { $0.count } }
    var ids: [Int64] { jobs.withLock { Array($0.keys) } }
    var all: [Entry] { jobs.withLock { Array($0.values) } }

    func contains(_ id: Int64) -> Bool { jobs.withLock { $0[id] != nil } }

    func insert(_ entry: Entry) { jobs.withLock { $0[entry.entry.id] = entry } }

    func attach(_ group: ServiceGroup, to id: Int64) { jobs.withLock { $0[id]?.group = group } }

    func remove(_ id: Int64) { jobs.withLock { _ = $0.removeValue(forKey: id) } }

    func group(of id: Int64) -> ServiceGroup? { jobs.withLock { $0[id]?.group } }
}
