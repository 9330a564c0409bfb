import MoontuneConfig
import MoontuneJSON
import Foundation

/// Images as `data:` URLs, read, sniffed and encoded once per file and kept in a bounded
/// least-recently-used cache, since a step's groups and the eval set reuse images.
public final class ImageCache: @unchecked Sendable {
    // @unchecked: every mutable member is guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: (url: String, tick: UInt64)] = [:]
    private var usedBytes = 0
    private var tick: UInt64 = 0

    /// The most bytes of data URLs held at once.
    public let capacityBytes: Int
    /// Images larger than this are refused (the config's `data.max_image_bytes`).
    public let maxImageBytes: Int

    /// 32 MiB holds a step of 32 groups of 500 KB images (their data URLs), with room to spare.
    public init(capacityBytes: Int = 32 << 20, maxImageBytes: Int = 20 << 20) {
        self.capacityBytes = capacityBytes
        self.maxImageBytes = maxImageBytes
    }

    /// `data:<mime>;base64,...` for the image file. The format comes from its magic bytes.
    public func dataURL(for file: URL) throws(DatasetError) -> String {
        let key = file.path
        if let hit = lookup(key) { return hit }
        let encoded = try Self.encode(file, maxBytes: maxImageBytes)
        store(key, encoded)
        return encoded
    }

    /// Bytes currently held, for tests and metrics.
    public var cachedBytes: Int {
        lock.lock()
        defer { lock.unlock() }
        return usedBytes
    }

    private func lookup(_ key: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[key] else { return nil }
        tick += 1
        entries[key] = (entry.url, tick)
        return entry.url
    }

    private func store(_ key: String, _ url: String) {
        let size = url.utf8.count
        guard size <= capacityBytes else { return }
        lock.lock()
        defer { lock.unlock() }
        if let old = entries.removeValue(forKey: key) { usedBytes -= old.url.utf8.count }
        while usedBytes + size > capacityBytes, let oldest = entries.min(by: { $0.value.tick < $1.value.tick }) {
            entries.removeValue(forKey: oldest.key)
            usedBytes -= oldest.value.url.utf8.count
        }
        tick += 1
        entries[key] = (url, tick)
        usedBytes += size
    }

    package static func encode(_ file: URL, maxBytes: Int) throws(DatasetError) -> String {
        func refuse(_ message: String) -> DatasetError {
            DatasetError(Problem(file: displayPath(file), field: "image", message: message))
        }
        let bytes: [UInt8]
        do throws(FileReadError) {
            let reader = try FileReader(path: file.path)
            guard reader.size <= maxBytes else {
                throw FileReadError(message: "\(reader.size) bytes, above the cap of \(maxBytes) (data.max_image_bytes)")
            }
            bytes = try reader.read(at: 0, count: reader.size)
        } catch {
            throw refuse(error.message)
        }
        guard let format = ImageFormat.sniff(bytes) else { throw refuse("not a JPEG, PNG, WebP or GIF image") }
        return "data:\(format.mimeType);base64," + Data(bytes).base64EncodedString()
    }
}
