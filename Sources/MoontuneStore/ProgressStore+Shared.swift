import Foundation
import Synchronization

/// One writable store per database file per process (GRDB's advice: one `DatabasePool` per file),
/// opened off the cooperative pool (issue 21).
///
/// `serve` runs many jobs on one database: each job's session, its admission and the daemon itself
/// share the daemon's pool instead of opening one each. Opening a store checks the file and runs
/// migrations, which is blocking work: it runs on a thread of its own, never on one of the
/// cooperative pool's (only as wide as the cores).
extension ProgressStore {
    private final class WeakStore: @unchecked Sendable {
        weak var store: ProgressStore?
        init(_ store: ProgressStore) { self.store = store }
    }

    private static let registry = Mutex<[String: WeakStore]>([:])

    /// The process's writable store of the database at `path`, opened (created, migrated) on a
    /// thread of its own the first time; the same instance while anyone holds it.
    public static func shared(path: String) async throws -> ProgressStore {
        let key = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        if let store = registry.withLock({ $0[key]?.store }) { return store }
        // Opened on a thread of its own, one file at a time: two tasks opening the same new file
        // must not both run its migrations.
        return try await offPool {
            opening.lock()
            defer { opening.unlock() }
            if let store = registry.withLock({ $0[key]?.store }) { return store }
            let opened = try ProgressStore(path: path)
            registry.withLock { registry in
                registry = registry.filter { $0.value.store != nil }
                registry[key] = WeakStore(opened)
            }
            return opened
        }
    }

    /// Held while a shared store is being opened.
    private static let opening = NSLock()

    /// Runs blocking work on a thread of its own and waits for it without holding a pool thread.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = "moontune-store-open"
            thread.start()
        }
    }
}
