import Foundation

/// The job's event files under `<logdir>/<job name>/`, written by hand (TFRecord framing,
/// `Event` protobufs), one new file per run, named as TensorBoard's own writers name them:
/// `events.out.tfevents.<seconds>.<host>.<pid>.<n>`.
///
/// TensorBoard reads every file in the folder, so a point written once must never be written
/// again. Before writing anything, the writer reads every file back (a torn last record, from a
/// kill in mid-write, ends that file's reading, and is cut off) and learns what the folder already
/// holds: the last step and eval written, and whether the config was. That, not the database,
/// decides what is still to write. A rewind is written as a `session_log` START at the first step
/// trained again: TensorBoard's loader then drops the points it read at that step or later, and
/// reading back here does the same.
package final class TensorBoardWriter: @unchecked Sendable {
    /// What the folder holds already.
    package struct Contents: Sendable, Equatable {
        package var lastStep = 0
        package var lastEval = -1
        package var hasConfig = false
        /// Every (tag, step) found, counted: for tests and diagnostics.
        package var points = 0
        /// The steps of the rewinds written (`session_log` START), in file order.
        package var starts: [Int] = []
    }

    package let folder: URL
    private var handle: FileHandle?
    private let host: String
    private let pid: Int32

    package init(folder: URL, host: String = ProcessInfo.processInfo.hostName, pid: Int32 = getpid()) {
        self.folder = folder
        self.host = host.replacingOccurrences(of: "/", with: "_")
        self.pid = pid
    }

    deinit { try? handle?.close() }

    /// Reads every event file of the folder back (blocking: call off the cooperative pool).
    /// A torn record at the end of a file is cut off, so that readers never trip on it.
    package func readBack() throws -> Contents {
        var contents = Contents()
        for file in try eventFiles() {
            let url = folder.appendingPathComponent(file)
            let bytes = Array(try Data(contentsOf: url))
            let (records, validLength) = TFRecord.read(bytes)
            if validLength < bytes.count {
                let truncating = try FileHandle(forWritingTo: url)
                try truncating.truncate(atOffset: UInt64(validLength))
                try truncating.close()
            }
            for record in records {
                if let start = TensorBoardEvent.sessionStartStep(of: record) {
                    // A rewind: what came before at `start` or later no longer counts (TensorBoard
                    // drops it too), so it is written again.
                    contents.lastStep = min(contents.lastStep, max(0, start - 1))
                    contents.lastEval = min(contents.lastEval, start - 1)
                    contents.starts.append(start)
                    continue
                }
                guard let event = TensorBoardEvent.tags(of: record) else { continue }
                let (step, tags) = (event.step, event.tags)
                contents.points += tags.count
                if tags.contains(where: { $0.hasPrefix("train/") || $0.hasPrefix("budget/") }) {
                    contents.lastStep = max(contents.lastStep, step)
                }
                if tags.contains(where: { $0.hasPrefix("eval/") }) { contents.lastEval = max(contents.lastEval, step) }
                if tags.contains(Self.configTag) { contents.hasConfig = true }
            }
        }
        return contents
    }

    package static let configTag = "config"

    /// Appends events (each one record), opening this run's file first if needed; returns once
    /// the bytes are in the file.
    package func write(_ events: [[UInt8]]) throws {
        let handle = try openIfNeeded()
        var bytes: [UInt8] = []
        for event in events { bytes += TFRecord.frame(event) }
        try handle.write(contentsOf: bytes)
    }

    /// Flushes this run's file to disk and closes it.
    package func close() {
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
    }

    private func eventFiles() throws -> [String] {
        guard FileManager.default.fileExists(atPath: folder.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
    }

    private func openIfNeeded() throws -> FileHandle {
        if let handle { return handle }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let existing = try eventFiles()
        // Later than every file already there, so that TensorBoard (which reads them in name order)
        // reads this run's after theirs.
        let newest = existing.compactMap { name in Int(name.split(separator: ".").dropFirst(3).first ?? "") }.max() ?? 0
        let seconds = max(Int(Date().timeIntervalSince1970), newest + 1)
        let name = "events.out.tfevents.\(String(format: "%010ld", seconds)).\(host).\(pid).\(existing.count)"
        let url = folder.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw TrackingError("cannot create \(url.path)")
        }
        let handle = try FileHandle(forWritingTo: url)
        try handle.write(contentsOf: TFRecord.frame(TensorBoardEvent.fileVersion(wallTime: Date().timeIntervalSince1970)))
        self.handle = handle
        return handle
    }
}
