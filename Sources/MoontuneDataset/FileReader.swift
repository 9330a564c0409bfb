import MoontuneConfig
import MoontuneJSON

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be opened or read, in words fit for a problem message.
package struct FileReadError: Error, Sendable {
    package var message: String

    package static func posix(_ what: String) -> FileReadError {
        FileReadError(message: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// A read-only file descriptor with positional reads, which are safe from several threads at
/// once because they share no file offset.
package final class FileReader: Sendable, ImageByteSource {
    private let descriptor: Int32
    /// Size at open time.
    package let size: Int
    /// Modification time at open time, in milliseconds since 1970.
    package let modifiedMs: Int64
    /// What `fstat` said at open time, for caches keyed on the file's identity.
    package let identity: FileIdentity

    package init(path: String) throws(FileReadError) {
        // O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below, like
        // every file that is not regular. Reads of regular files ignore the flag.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw errno == ENOENT ? FileReadError(message: "no such file") : FileReadError.posix("cannot open")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let error = FileReadError.posix("cannot stat")
            close(descriptor)
            throw error
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw FileReadError(message: (info.st_mode & S_IFMT) == S_IFDIR ? "is a folder, not a file" : "is not a regular file")
        }
        self.descriptor = descriptor
        self.size = Int(info.st_size)
        #if canImport(Darwin)
        self.modifiedMs = Int64(info.st_mtimespec.tv_sec) * 1000 + Int64(info.st_mtimespec.tv_nsec) / 1_000_000
        #else
        self.modifiedMs = Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
        #endif
        self.identity = FileIdentity(info)
    }

    deinit {
        close(descriptor)
    }

    /// Up to `count` bytes at `offset`; fewer only at the end of the file.
    package func read(at offset: Int, count: Int) throws(FileReadError) -> [UInt8] {
        guard count > 0 else { return [] }
        var result = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = result.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress.map { $0 + filled }, count - filled, off_t(offset + filled))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw FileReadError.posix("read failed")
            }
            if got == 0 { break }
            filled += got
        }
        result.removeLast(count - filled)
        return result
    }

    /// Reads into a caller's buffer; returns the number of bytes read (0 at the end).
    package func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws(FileReadError) -> Int {
        while true {
            let got = pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
            if got >= 0 { return got }
            if errno != EINTR { throw FileReadError.posix("read failed") }
        }
    }
}

/// The canonical path of an existing file or folder (symlinks resolved), nil if it does not exist.
package func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
