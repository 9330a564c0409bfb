import Foundation

/// The OS lock that makes one runner per job: `flock` on a lock file beside the database.
///
/// The kernel drops the lock when the process dies, however it dies, so a crashed runner never
/// blocks the next one, and a stale pid in the database cannot fool it.
public final class JobLock: Sendable {
    public let path: String
    private let fd: Int32

    /// The lock file for a job of the database at `databasePath`.
    public static func path(databasePath: String, jobName: String) -> String {
        "\(databasePath).\(jobName).lock"
    }

    /// Takes the lock, or returns nil when another process holds it.
    ///
    /// `isHeld` (status, stop) takes a shared lock for an instant; a few tries over ~100 ms ride
    /// that out before concluding that another runner holds it.
    public static func acquire(databasePath: String, jobName: String) async throws -> JobLock? {
        for _ in 0..<10 {
            if let lock = try tryAcquire(databasePath: databasePath, jobName: jobName) { return lock }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// One attempt at the lock, without waiting.
    public static func tryAcquire(databasePath: String, jobName: String) throws -> JobLock? {
        let path = path(databasePath: databasePath, jobName: jobName)
        // O_CLOEXEC: a child process (the reward program) must not inherit the lock.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(path: path, message: "cannot open the job's lock file: \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK || code == EINTR { return nil }
            throw StoreError(path: path, message: "cannot lock: \(String(cString: strerror(code)))")
        }
        return JobLock(path: path, fd: fd)
    }

    /// Whether some process holds the lock right now, without taking it for long.
    public static func isHeld(databasePath: String, jobName: String) -> Bool {
        let path = path(databasePath: databasePath, jobName: jobName)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
