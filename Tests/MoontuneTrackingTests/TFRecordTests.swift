import Foundation
@testable import MoontuneTracking
import Testing

@Suite struct TFRecordTests {
    /// RFC 3720 (iSCSI) appendix B.4 and the common check value.
    @Test func crc32cMatchesTheKnownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func theMaskIsTensorFlows() {
        // masked = rotate right 15, plus 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h).
        let crc = CRC32C.checksum(Array("123456789".utf8))
        #expect(CRC32C.masked(Array("123456789".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
        #expect(CRC32C.masked([]) == 0xA282_EAD8)
    }

    @Test func aFrameIsLengthItsCRCDataAndItsCRC() {
        let data = Array("hello".utf8)
        let frame = TFRecord.frame(data)
        #expect(frame.count == 8 + 4 + 5 + 4)
        #expect(Array(frame[0..<8]) == [5, 0, 0, 0, 0, 0, 0, 0])
        let lengthCRC = CRC32C.masked(frame[0..<8])
        #expect(Array(frame[8..<12]) == [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: lengthCRC >> $0) })
        #expect(Array(frame[12..<17]) == data)
        let dataCRC = CRC32C.masked(data)
        #expect(Array(frame[17..<21]) == [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: dataCRC >> $0) })
    }

    @Test func recordsReadBackUpToATornOrCorruptOne() {
        let records = [Array("one".utf8), [], Array(repeating: 7, count: 300)]
        let whole = records.flatMap(TFRecord.frame)
        let (read, valid) = TFRecord.read(whole)
        #expect(read.map(Array.init) == records)
        #expect(valid == whole.count)
        // A write cut short anywhere in the last record: the first two are kept, the rest is not trusted.
        let firstTwo = TFRecord.frame(records[0]).count + TFRecord.frame(records[1]).count
        for cut in stride(from: firstTwo, to: whole.count, by: 13) {
            let (torn, tornValid) = TFRecord.read(Array(whole[0..<cut]))
            #expect(torn.count == 2)
            #expect(tornValid == firstTwo)
        }
        var corrupt = whole
        corrupt[firstTwo + 20] ^= 0x40
        #expect(TFRecord.read(corrupt).records.count == 2)
    }

    @Test func anEventReadsBackWithItsStepAndTags() {
        let event = TensorBoardEvent.summary(wallTime: 1_700_000_000.5, step: 42, values: [
            .scalar(tag: "train/reward_mean", value: 0.25), .text(tag: "config", text: "{}"),
            .image(tag: "eval/examples/a", encoded: [0xFF, 0xD8], width: 2, height: 1),
        ])
        let read = TensorBoardEvent.tags(of: event[...])
        #expect(read?.step == 42)
        #expect(read?.tags == ["train/reward_mean", "config", "eval/examples/a"])
        #expect(TensorBoardEvent.tags(of: TensorBoardEvent.fileVersion(wallTime: 1)[...]) == nil)
    }

    @Test func aWriterResumingAfterATornWriteCutsItOffAndKnowsWhatIsThere() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = TensorBoardWriter(folder: folder, pid: 1)
        try first.write([TensorBoardEvent.summary(wallTime: 1, step: 1, values: [.scalar(tag: "train/lr", value: 0.1)]),
                         TensorBoardEvent.summary(wallTime: 2, step: 0, values: [.scalar(tag: "eval/reward_mean", value: 0.5)])])
        first.close()
        // A kill in the middle of the next record.
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).first)
        let url = folder.appendingPathComponent(file)
        let partial = TFRecord.frame(TensorBoardEvent.summary(wallTime: 3, step: 2, values: [.scalar(tag: "train/lr", value: 0.1)]))
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        try handle.write(contentsOf: partial.prefix(partial.count - 3))
        try handle.close()
        let contents = try TensorBoardWriter(folder: folder, pid: 2).readBack()
        #expect(contents.lastStep == 1)
        #expect(contents.lastEval == 0)
        #expect(!contents.hasConfig)
        let bytes = Array(try Data(contentsOf: url))
        #expect(TFRecord.read(bytes).validLength == bytes.count)
    }
}
