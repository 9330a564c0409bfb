import MoontuneConfig
import MoontuneJSON
import Foundation
import Synchronization

/// Resolves the image paths of one dataset file and applies its rules: paths are relative to the
/// file's folder and may not leave it, through `..` or a symlink, unless absolute paths are
/// allowed; files above the size cap are refused.
package struct ImageLocator: Sendable {
    /// The dataset file's folder, without a trailing slash.
    private let folderPath: String
    /// The folder with its symlinks resolved, for the containment check of resolved files.
    private let realFolder: String
    package let maxBytes: Int
    package let allowOutside: Bool
    /// The real locations already found, during one scan (`cachingLinks()`); nil elsewhere.
    private var links: RealPathCache?

    package init(datasetURL: URL, maxBytes: Int, allowOutside: Bool) {
        folderPath = Self.normalize(datasetURL.deletingLastPathComponent().standardizedFileURL.path)
        realFolder = realPath(folderPath) ?? folderPath
        self.maxBytes = maxBytes
        self.allowOutside = allowOutside
    }

    /// The same locator, remembering each path's real location for the life of the copy: for a
    /// scan, where a million lines name a few thousand images, and resolving each line's path
    /// anew cost four `readlink` calls a line (4 million system calls on a million lines). Not
    /// for the requests of a run, whose images are checked anew each time they are read.
    package func cachingLinks() -> ImageLocator {
        var copy = self
        copy.links = RealPathCache()
        return copy
    }

    /// The image's URL, or the reason the path is refused. Only lexical: see `checkLink`.
    package func resolve(_ path: String) -> Result<URL, ImageHeaderError> {
        guard !path.isEmpty else { return .failure(ImageHeaderError(message: "empty path")) }
        if path.hasPrefix("/") {
            guard allowOutside else {
                return .failure(ImageHeaderError(message: "absolute path \"\(path)\" refused (set data.allow_absolute_paths to allow it)"))
            }
            return .success(URL(filePath: Self.normalize(path), directoryHint: .notDirectory))
        }
        let resolved = Self.normalize(folderPath + "/" + path)
        if !allowOutside, !Self.isInside(resolved, folderPath) {
            return .failure(ImageHeaderError(message: "\"\(path)\" leads outside the dataset folder through '..' (set data.allow_absolute_paths to allow it)"))
        }
        return .success(URL(filePath: resolved, directoryHint: .notDirectory))
    }

    /// An absolute path with `.`, `..` and repeated slashes resolved lexically (no file access:
    /// symlinks are `checkLink`'s business). Done on strings, since this runs for every line.
    package static func normalize(_ path: String) -> String {
        if isPlain(path) { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Refuses an existing file whose real location (symlinks resolved) is outside the folder.
    package func checkLink(_ url: URL, written path: String) -> ImageHeaderError? {
        guard !allowOutside, let real = links.map({ $0.realPath(url.path) }) ?? realPath(url.path) else { return nil }
        guard Self.isInside(real, realFolder) else {
            return ImageHeaderError(message: "\"\(path)\" is a symlink that leads outside the dataset folder (to \(real))")
        }
        return nil
    }

    /// Opens, checks the size cap, sniffs the format and reads the size from the header.
    package func probe(_ url: URL) -> Result<ImageInfo, ImageHeaderError> {
        let reader: FileReader
        do {
            reader = try FileReader(path: url.path)
        } catch {
            return .failure(ImageHeaderError(message: "\(url.path): \(error.message)"))
        }
        if let refusal = sizeRefusal(reader.size, url) { return .failure(refusal) }
        do {
            let head = try reader.read(at: 0, count: 12)
            guard let format = ImageFormat.sniff(head) else {
                return .failure(ImageHeaderError(message: "\(url.path) is not a JPEG, PNG, WebP or GIF image"))
            }
            let size = try ImageHeader.dimensions(of: format, in: reader)
            if let truncated = try ImageTrailer.problem(format, in: reader, size: reader.size) {
                return .failure(ImageHeaderError(message: "\(url.path): \(truncated)"))
            }
            return .success(ImageInfo(format: format, width: size.width, height: size.height, byteCount: reader.size))
        } catch let error as ImageHeaderError {
            return .failure(ImageHeaderError(message: "\(url.path): \(error.message)"))
        } catch {
            return .failure(ImageHeaderError(message: "\(url.path): \((error as? FileReadError)?.message ?? "\(error)")"))
        }
    }

    /// Whether an absolute path is already normal: no `.` or `..` part, no `//`, no trailing `/`.
    private static func isPlain(_ path: String) -> Bool {
        var previous: UInt8 = 0
        var sawSlash = false
        for byte in path.utf8 {
            if previous == UInt8(ascii: "/"), byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".") { return false }
            if byte == UInt8(ascii: "/") { sawSlash = true }
            previous = byte
        }
        return sawSlash && path.utf8.first == UInt8(ascii: "/") && (previous != UInt8(ascii: "/") || path.utf8.count == 1)
    }

    package func sizeRefusal(_ size: Int, _ url: URL) -> ImageHeaderError? {
        guard size > maxBytes else {
            return size == 0 ? ImageHeaderError(message: "\(url.path) is empty") : nil
        }
        return ImageHeaderError(message: "\(url.path) is \(size) bytes, above the cap of \(maxBytes) (data.max_image_bytes)")
    }

    package static func isInside(_ path: String, _ folder: String) -> Bool {
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        return path.hasPrefix(prefix)
    }
}

/// A bounded memo of `realPath`, bounded as the scan's image-header cache is: emptied
/// when full. A class behind a lock, because `ImageLocator` is a Sendable value shared by copies.
private final class RealPathCache: Sendable {
    static let limit = 4096
    private let entries = Mutex<[String: String?]>([:])

    func realPath(_ path: String) -> String? {
        if let known = entries.withLock({ $0[path] }) { return known }
        let found = MoontuneDataset.realPath(path)
        entries.withLock { entries in
            if entries.count >= Self.limit { entries.removeAll(keepingCapacity: true) }
            entries[path] = .some(found)
        }
        return found
    }
}
