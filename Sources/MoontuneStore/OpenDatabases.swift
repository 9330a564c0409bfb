import Foundation
import Synchronization

/// The database files this process has open through a `ProgressStore`, by device and inode.
///
/// POSIX record locks belong to the process, and closing *any* descriptor of a file drops all of
/// them. SQLite's own connections share one descriptor per file within a process, but the header
/// check of `ProgressStore.init` opens and closes the file itself: done while another store of the
/// same process has the file open (`serve` runs many jobs, `stop` opens a writer beside its
/// reader), it silently drops that store's locks, and another process can then checkpoint the WAL
/// under it and corrupt the file. So the checks run only for the first store of a file, under a
/// lock that keeps a second store from opening meanwhile.
enum OpenDatabases {
    struct FileID: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private static let counts = Mutex<[FileID: Int]>([:])

    static func id(_ path: String) -> FileID? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Counts one more store of the file at `path`, running `firstOpenChecks` first when this
    /// process has none open yet. Returns the id to release.
    static func retain(_ path: String, firstOpenChecks: () throws -> Void) throws -> FileID? {
        try counts.withLock { counts in
            guard let id = id(path) else {
                try firstOpenChecks()
                return nil
            }
            if counts[id, default: 0] == 0 { try firstOpenChecks() }
            counts[id, default: 0] += 1
            return id
        }
    }

    /// Whether another store of this process has the file open too.
    static func isShared(_ id: FileID?) -> Bool {
        guard let id else { return false }
        return counts.withLock { $0[id, default: 0] > 1 }
    }

    static func release(_ id: FileID?) {
        guard let id else { return }
        counts.withLock { counts in
            let left = counts[id, default: 1] - 1
            counts[id] = left > 0 ? left : nil
        }
    }
}
