import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI

/// How a dataset file is read and checked.
public struct DatasetOptions: Sendable, Equatable {
    /// Images larger than this are refused.
    public var maxImageBytes: Int = 20 << 20
    /// Whether image paths may be absolute or lead outside the file's folder.
    public var allowAbsolutePaths: Bool = false
    /// Whether to open every image and read its header while indexing (what `validate` does).
    /// Paths are checked either way.
    public var readImageHeaders: Bool = true
    /// When set, query answers are checked for this comparison (a valid regex, a number).
    public var queryMatch: QueryMatch?
    /// Lines longer than this are refused, so one bad line cannot exhaust memory.
    public var maxLineBytes: Int = 16 << 20
    /// At most this many problems are kept per file; the rest are counted.
    public var maxProblems: Int = 100_000

    public init(maxImageBytes: Int = 20 << 20, allowAbsolutePaths: Bool = false, readImageHeaders: Bool = true,
                queryMatch: QueryMatch? = nil) {
        self.maxImageBytes = maxImageBytes
        self.allowAbsolutePaths = allowAbsolutePaths
        self.readImageHeaders = readImageHeaders
        self.queryMatch = queryMatch
    }

    /// The options a job's config implies.
    public init(config: JobConfig, readImageHeaders: Bool = true) {
        self.init(maxImageBytes: config.data.maxImageBytes, allowAbsolutePaths: config.data.allowAbsolutePaths,
                  readImageHeaders: readImageHeaders, queryMatch: config.reward.query)
    }
}

/// A cheap identity of a dataset file's contents, computed while it is indexed.
public struct DatasetFingerprint: Sendable, Codable, Hashable, CustomStringConvertible {
    public var byteCount: Int
    /// Modification time in milliseconds since 1970.
    public var modifiedMs: Int64
    /// SHA-256 of the contents, lowercase hex.
    public var sha256: String

    public init(byteCount: Int, modifiedMs: Int64, sha256: String) {
        self.byteCount = byteCount
        self.modifiedMs = modifiedMs
        self.sha256 = sha256
    }

    /// What identifies the contents: the hash and size. The modification time is left out, so
    /// a copy or a `touch` of an unchanged file is the same dataset.
    public var contentID: String { "sha256:\(sha256.prefix(16)) (\(byteCount) bytes)" }

    public var description: String { "\(byteCount) bytes, sha256 \(sha256)" }

    package enum CodingKeys: String, CodingKey {
        case byteCount = "byte_count", modifiedMs = "modified_ms", sha256
    }
}

/// What a dataset holds, gathered while indexing.
public struct DatasetStats: Sendable, Equatable {
    public var examples = 0
    public var perSkill: [Skill: Int] = [:]
    /// Examples by the format of their image (an image used by two examples counts twice).
    /// Empty when headers were not read.
    public var imagesByFormat: [ImageFormat: Int] = [:]
    /// The smallest and largest width and height seen; nil when no header was read.
    public var minWidth: Int?
    public var minHeight: Int?
    public var maxWidth: Int?
    public var maxHeight: Int?

    public init() {}

    package mutating func add(_ info: ImageInfo) {
        imagesByFormat[info.format, default: 0] += 1
        minWidth = min(minWidth ?? .max, info.width)
        minHeight = min(minHeight ?? .max, info.height)
        maxWidth = max(maxWidth ?? 0, info.width)
        maxHeight = max(maxHeight ?? 0, info.height)
    }
}

/// A file's path as problems show it: relative to the working directory when inside it.
package func displayPath(_ url: URL) -> String {
    let path = url.standardizedFileURL.path
    let cwd = FileManager.default.currentDirectoryPath
    if ImageLocator.isInside(path, cwd) { return String(path.dropFirst(cwd.count + (cwd.hasSuffix("/") ? 0 : 1))) }
    return path
}
