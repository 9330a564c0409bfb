import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension DatasetIndexCache {
    /// What an entry says about its dataset, stored as JSON at the start of the entry.
    package struct Header: Codable, Equatable {
        package var format: Int
        package var path: String
        package var file: FileIdentity
        package var options: String
        package var builder: String
        package var sha256: String
        package var count: Int
        package var stats: CachedStats
        /// Of the index arrays, in hex.
        package var checksum: String
    }

    /// `DatasetStats` in a codable form.
    package struct CachedStats: Codable, Equatable {
        package var examples: Int
        package var perSkill: [String: Int]
        package var imagesByFormat: [String: Int]
        package var minWidth: Int?
        package var minHeight: Int?
        package var maxWidth: Int?
        package var maxHeight: Int?

        package init(_ stats: DatasetStats) {
            examples = stats.examples
            perSkill = Dictionary(uniqueKeysWithValues: stats.perSkill.map { ($0.key.rawValue, $0.value) })
            imagesByFormat = Dictionary(uniqueKeysWithValues: stats.imagesByFormat.map { ($0.key.rawValue, $0.value) })
            minWidth = stats.minWidth
            minHeight = stats.minHeight
            maxWidth = stats.maxWidth
            maxHeight = stats.maxHeight
        }

        package var stats: DatasetStats {
            var stats = DatasetStats()
            stats.examples = examples
            for (skill, count) in perSkill { if let skill = Skill(rawValue: skill) { stats.perSkill[skill] = count } }
            for (format, count) in imagesByFormat { if let format = ImageFormat(rawValue: format) { stats.imagesByFormat[format] = count } }
            stats.minWidth = minWidth
            stats.minHeight = minHeight
            stats.maxWidth = maxWidth
            stats.maxHeight = maxHeight
            return stats
        }
    }

    /// One entry file: magic (8 bytes), header length (UInt32, little-endian), the header JSON,
    /// zero padding to a multiple of 8, then the index as three raw little-endian arrays
    /// (offsets as Int64, lengths and line numbers as UInt32), and nothing after them.
    package struct Contents {
        package var header: Header
        package var index: LineIndex

        package static func arraysStart(headerLength: Int) -> Int {
            (DatasetIndexCache.magic.count + 4 + headerLength + 7) / 8 * 8
        }

        package static func read(from entry: FileReader) throws(Miss) -> Contents {
            // The arrays are read straight into memory: only a little-endian machine can.
            guard 1.littleEndian == 1 else { throw Miss(reason: "big-endian machine") }
            let prefix: [UInt8]
            do {
                prefix = try entry.read(at: 0, count: DatasetIndexCache.magic.count + 4)
            } catch {
                throw Miss(reason: "unreadable entry: \(error.message)")
            }
            guard prefix.count == DatasetIndexCache.magic.count + 4, prefix.starts(with: DatasetIndexCache.magic) else {
                throw Miss(reason: "not an index entry of this format")
            }
            let headerLength = prefix.suffix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
            guard headerLength > 0, headerLength < 1 << 20 else { throw Miss(reason: "damaged entry header") }
            let header: Header
            do {
                let bytes = try entry.read(at: DatasetIndexCache.magic.count + 4, count: headerLength)
                header = try JSONDecoder().decode(Header.self, from: Data(bytes))
            } catch {
                throw Miss(reason: "damaged entry header")
            }
            guard header.format == DatasetIndexCache.formatVersion else { throw Miss(reason: "another entry format") }
            let count = header.count
            let start = arraysStart(headerLength: headerLength)
            guard count > 0, count < Int(UInt32.max), entry.size == start + count * 16 else {
                throw Miss(reason: "truncated or damaged entry")
            }
            do {
                let offsets: [Int] = try readArray(entry, at: start, count: count)
                let lengths: [UInt32] = try readArray(entry, at: start + count * 8, count: count)
                let lines: [UInt32] = try readArray(entry, at: start + count * 12, count: count)
                guard String(checksum(offsets, lengths, lines), radix: 16) == header.checksum,
                      let index = LineIndex(cachedOffsets: offsets, lengths: lengths, lines: lines) else {
                    throw Miss(reason: "the entry's checksum does not match")
                }
                return Contents(header: header, index: index)
            } catch let error as Miss {
                throw error
            } catch {
                throw Miss(reason: "unreadable entry")
            }
        }

        /// Fills an array of `count` fixed-size values straight from the file.
        package static func readArray<T: FixedWidthInteger>(_ entry: FileReader, at offset: Int, count: Int) throws -> [T] {
            let size = MemoryLayout<T>.stride * count
            return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                var filled = 0
                while filled < size {
                    let got = try entry.read(at: offset + filled, into: UnsafeMutableRawBufferPointer(rebasing: raw[filled..<size]))
                    if got == 0 { throw Miss(reason: "truncated entry") }
                    filled += got
                }
                initialized = count
            }
        }

        /// Writes the entry to a temporary file and renames it into place, so that a reader sees
        /// either the old entry or the whole new one.
        package func write(to url: URL, directory: URL) -> Bool {
            guard 1.littleEndian == 1 else { return false }
            var header = header
            header.checksum = String(Self.checksum(index.offsets, index.lengths, index.lines), radix: 16)
            guard let json = try? JSONEncoder().encode(header),
                  (try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                            attributes: [.posixPermissions: 0o700])) != nil else { return false }
            var head = DatasetIndexCache.magic
            let length = UInt32(json.count)
            head += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
            head += json
            head += [UInt8](repeating: 0, count: Self.arraysStart(headerLength: json.count) - head.count)

            let temporary = url.path + ".tmp-\(getpid())"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return false }
            var written = head.withUnsafeBytes { writeAll(descriptor, $0) }
            written = written && index.offsets.withUnsafeBytes { writeAll(descriptor, $0) }
            written = written && index.lengths.withUnsafeBytes { writeAll(descriptor, $0) }
            written = written && index.lines.withUnsafeBytes { writeAll(descriptor, $0) }
            close(descriptor)
            guard written, rename(temporary, url.path) == 0 else {
                unlink(temporary)
                return false
            }
            return true
        }

        private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
            var done = 0
            while done < bytes.count {
                guard let base = bytes.baseAddress else { return false }
                let wrote = posixWrite(descriptor, base + done, bytes.count - done)
                if wrote < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += wrote
            }
            return true
        }

        /// A fast 64-bit checksum of the arrays, for damage (not tampering): a multiply-xorshift
        /// over 8-byte words.
        package static func checksum(_ offsets: [Int], _ lengths: [UInt32], _ lines: [UInt32]) -> UInt64 {
            var hash: UInt64 = 0x6D6F_6F6E_7475_6E65
            func mix(_ bytes: UnsafeRawBufferPointer) {
                let words = bytes.count / 8
                for index in 0..<words {
                    hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                    hash ^= hash >> 29
                }
                for index in (words * 8)..<bytes.count {
                    hash = (hash ^ UInt64(bytes[index])) &* 0x9E37_79B9_7F4A_7C15
                }
            }
            offsets.withUnsafeBytes(mix)
            lengths.withUnsafeBytes(mix)
            lines.withUnsafeBytes(mix)
            return hash
        }
    }
}

/// `write(2)`, under a name that the entry's own `write(to:directory:)` does not hide.
private func posixWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, buffer, count)
    #else
    Darwin.write(descriptor, buffer, count)
    #endif
}
