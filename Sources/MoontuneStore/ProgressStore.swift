import Foundation
import GRDB

/// A problem with the state database itself, said plainly.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// The state database: one SQLite file (WAL, `synchronous=FULL`) holding any number of jobs.
///
/// Writes are `BEGIN IMMEDIATE` transactions, one per recorded fact, so that what is recorded is
/// always whole; readers (`status`) never block the writer, and a busy timeout lets the writer
/// wait out a long reader.
public final class ProgressStore: Sendable {
    /// Marks a file as ours ('MOON'), so a foreign SQLite file is never written to.
    static let applicationID: Int32 = 0x4D4F_4F4E

    public let path: String
    let pool: DatabasePool
    /// This store's count in `OpenDatabases`.
    private let openID: OpenDatabases.FileID?

    /// Opens (or creates, mode 0600) the database at `path` and brings its schema up to date.
    ///
    /// A file that is not SQLite, or a SQLite database that is not moontune's, is refused with a
    /// clear error and left untouched.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            throw StoreError(path: path, message: "is a directory, not a moontune database")
        }
        if !exists {
            if readOnly { throw StoreError(path: path, message: "no such database (no job has run with it yet)") }
            // SQLite gives the -wal and -shm files the main file's mode, so creating it 0600
            // keeps all three private.
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw StoreError(path: path, message: "cannot create the database: \(String(cString: strerror(errno)))")
            }
            close(fd)
        }
        // The header and ownership checks open the file outside SQLite: only while no other store
        // of this process has it open, or they would drop that store's locks (OpenDatabases).
        let openID = try OpenDatabases.retain(path) {
            if exists { try Self.checkHeader(path: path) }
        }
        self.openID = openID
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.foreignKeysEnabled = true
        configuration.label = "moontune"
        // Readers (status, stop, export) open the file read-only: they can never change it.
        configuration.readonly = readOnly
        configuration.prepareDatabase { db in
            if !readOnly { try db.execute(sql: "PRAGMA synchronous = FULL") }
        }
        // Once the pool is open every property is set: a failure after that runs deinit, which
        // releases the count; before that, the catch below does.
        var poolOpened = false
        do {
            if exists && !OpenDatabases.isShared(openID) {
                try Self.checkOwnership(path: path)
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            poolOpened = true
            if !readOnly {
                try pool.writeWithoutTransaction { db in
                    let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                    if applicationID != Self.applicationID {
                        try db.execute(sql: "PRAGMA application_id = \(Self.applicationID)")
                    }
                }
                try Self.migrator.migrate(pool)
            }
        } catch let error as StoreError {
            if !poolOpened { OpenDatabases.release(openID) }
            throw error
        } catch let error as DatabaseError {
            if !poolOpened { OpenDatabases.release(openID) }
            throw StoreError(path: path, message: Self.describe(error))
        } catch {
            if !poolOpened { OpenDatabases.release(openID) }
            throw error
        }
    }

    deinit {
        OpenDatabases.release(openID)
    }

    /// A file that does not start with SQLite's magic header is refused before SQLite sees it.
    static func checkHeader(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError(path: path, message: "cannot be read (check its permissions)")
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        if header.isEmpty { return }  // an empty file is a new database
        guard header == Data("SQLite format 3\0".utf8) else {
            throw StoreError(path: path, message: "is not a SQLite database (corrupt or a foreign file); refusing to overwrite it")
        }
    }

    /// Looks at an existing file read-only, so that a database that is not ours is refused before
    /// anything (even switching it to WAL) touches it.
    static func checkOwnership(path: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        let (applicationID, objects) = try queue.read { db in
            (try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0, try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0)
        }
        try queue.close()
        if applicationID != Self.applicationID && objects > 0 {
            throw StoreError(path: path, message: "is a SQLite database but not a moontune one; refusing to touch it")
        }
    }

    static func describe(_ error: DatabaseError) -> String {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: "is corrupt or not a database; refusing to overwrite it"
        case .SQLITE_FULL: "the disk is full"
        case .SQLITE_READONLY: "the database is read-only"
        case .SQLITE_CANTOPEN: "cannot be opened"
        case .SQLITE_BUSY, .SQLITE_LOCKED: "the database is locked by another process"
        case .SQLITE_IOERR: "I/O error writing the database (disk full or removed?)"
        default: error.message ?? "\(error.resultCode)"
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction.
    ///
    /// A database locked by another process (a `sqlite3` shell holding a write transaction, say)
    /// is waited out: SQLite's busy timeout first, then further attempts for up to `lockPatience`.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let started = ContinuousClock.now
        while true {
            do {
                return try await pool.writeWithoutTransaction { db in
                    var result: T?
                    try db.inTransaction(.immediate) {
                        result = try body(db)
                        return .commit
                    }
                    guard let result else { throw StoreError(path: "", message: "transaction produced no result") }
                    return result
                }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                guard ContinuousClock.now - started < Self.lockPatience else {
                    throw StoreError(path: path, message: "the database stayed locked by another process for "
                        + "\(Self.lockPatience.components.seconds) s; close whatever holds it (a sqlite3 shell?) and run again")
                }
                try await Task.sleep(for: .seconds(1))
            } catch let error as DatabaseError {
                throw StoreError(path: path, message: Self.describe(error))
            }
        }
    }

    /// How long a write waits for a lock held by another process before giving up.
    static let lockPatience: Duration = .seconds(600)

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch let error as DatabaseError {
            throw StoreError(path: path, message: Self.describe(error))
        }
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file.
    public func integrityCheck() async throws -> String {
        try await read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    public static func nowMs() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }
}
