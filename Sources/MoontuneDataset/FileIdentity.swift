import MoontuneConfig
import MoontuneJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file's identity as `stat` reports it: which file (device and inode), how big, and when its
/// contents (mtime) or its inode (ctime) last changed, to the nanosecond.
///
/// Any write to the file changes its ctime, and ctime cannot be set back by a user the way mtime
/// can (`touch -d`, `rsync -t`), so an equal identity means the bytes are the ones seen before.
package struct FileIdentity: Sendable, Codable, Hashable {
    package var device: UInt64
    package var inode: UInt64
    package var size: Int64
    package var modifiedNs: Int64
    package var changedNs: Int64

    package init(device: UInt64, inode: UInt64, size: Int64, modifiedNs: Int64, changedNs: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNs = modifiedNs
        self.changedNs = changedNs
    }

    package init(_ info: stat) {
        #if canImport(Darwin)
        let modified = info.st_mtimespec, changed = info.st_ctimespec
        #else
        let modified = info.st_mtim, changed = info.st_ctim
        #endif
        self.init(device: UInt64(truncatingIfNeeded: info.st_dev), inode: UInt64(truncatingIfNeeded: info.st_ino),
                  size: Int64(info.st_size),
                  modifiedNs: Int64(modified.tv_sec) * 1_000_000_000 + Int64(modified.tv_nsec),
                  changedNs: Int64(changed.tv_sec) * 1_000_000_000 + Int64(changed.tv_nsec))
    }

    /// The identity of the file at `path` now, nil if it cannot be read.
    package static func of(path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileIdentity(info)
    }

    package enum CodingKeys: String, CodingKey {
        case device, inode, size, modifiedNs = "modified_ns", changedNs = "changed_ns"
    }
}
