import Foundation
import Testing
@testable import MoontuneJob
@testable import MoontuneConfig
@testable import MoontuneDataset
@testable import MoontuneRewards
@testable import MoontuneJSON

@Suite("Images: sniffing, headers, paths")
struct ImageTests {
    /// Test images by name, so failures print a name rather than every byte.
    static let samples: [String: [UInt8]] = [
        "png 33×17": TestImages.png(width: 33, height: 17),
        "jpeg 640×480": TestImages.jpeg(width: 640, height: 480),
        "jpeg 1920×1080 after 130 kB of EXIF": TestImages.jpeg(width: 1920, height: 1080, padding: 130_000),
        "gif 300×2": TestImages.gif(width: 300, height: 2),
        "webp lossy 1000×750": TestImages.webpLossy(width: 1000, height: 750),
        "webp lossless 16384×1": TestImages.webpLossless(width: 16_384, height: 1),
        "webp extended 20000×5000": TestImages.webpExtended(width: 20_000, height: 5_000),
    ]

    @Test(arguments: [
        ("png 33×17", ImageFormat.png, 33, 17),
        ("jpeg 640×480", .jpeg, 640, 480),
        ("jpeg 1920×1080 after 130 kB of EXIF", .jpeg, 1920, 1080),
        ("gif 300×2", .gif, 300, 2),
        ("webp lossy 1000×750", .webp, 1000, 750),
        ("webp lossless 16384×1", .webp, 16_384, 1),
        ("webp extended 20000×5000", .webp, 20_000, 5_000),
    ])
    func headerGivesFormatAndSize(sample: String, format: ImageFormat, width: Int, height: Int) throws {
        let bytes = try #require(Self.samples[sample])
        #expect(ImageFormat.sniff(bytes) == format)
        let size = try ImageHeader.dimensions(of: format, in: bytes)
        #expect(size.width == width)
        #expect(size.height == height)
    }

    @Test func formatComesFromMagicBytesNotTheExtension() throws {
        let folder = try TemporaryFolder()
        let url = try folder.write("really-a-gif.jpg", TestImages.gif(width: 4, height: 3))
        let locator = ImageLocator(datasetURL: folder.path("train.jsonl"), maxBytes: 1 << 20, allowOutside: false)
        let info = try locator.probe(url).get()
        #expect(info == ImageInfo(format: .gif, width: 4, height: 3, byteCount: 14))
        #expect(ImageFormat.sniff(Array("%PDF-1.7 not an image".utf8)) == nil)
        #expect(ImageFormat.sniff([0xFF, 0xD8]) == nil)
    }

    @Test func truncatedHeadersAreProblemsNotCrashes() {
        #expect(throws: ImageHeaderError.self) { try ImageHeader.dimensions(of: .png, in: Array(TestImages.png(width: 2, height: 2).prefix(20))) }
        #expect(throws: ImageHeaderError.self) { try ImageHeader.dimensions(of: .jpeg, in: Array(TestImages.jpeg(width: 2, height: 2).prefix(30))) }
        #expect(throws: ImageHeaderError.self) { try ImageHeader.dimensions(of: .gif, in: Array("GIF89a".utf8)) }
        #expect(throws: ImageHeaderError.self) { try ImageHeader.dimensions(of: .webp, in: Array(TestImages.webpLossy(width: 2, height: 2).prefix(16))) }
    }

    @Test func zeroSizedImageIsRefused() {
        #expect(throws: ImageHeaderError.self) { try ImageHeader.dimensions(of: .gif, in: TestImages.gif(width: 0, height: 5)) }
    }

    @Test func pathEscapingThroughDotDotIsRefused() throws {
        let folder = try TemporaryFolder()
        try folder.png("outside.png")
        try folder.png("data/inside.png")
        let url = try folder.dataset([Line.point("a", image: "../outside.png"), Line.point("b", image: "sub/../inside.png")], name: "data/train.jsonl")
        do {
            _ = try Dataset.open(url, options: DatasetOptions())
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.line == 1)
            #expect(error.problems.first?.field == "image")
            #expect(error.problems.first?.message.contains("leads outside the dataset folder through '..'") == true)
        }
    }

    @Test func symlinkLeadingOutsideIsRefused() throws {
        let folder = try TemporaryFolder()
        try folder.png("secret/outside.png")
        try FileManager.default.createDirectory(at: folder.path("data"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: folder.path("data/link.png"), withDestinationURL: folder.path("secret/outside.png"))
        try folder.png("data/real.png")
        try FileManager.default.createSymbolicLink(at: folder.path("data/inner-link.png"), withDestinationURL: folder.path("data/real.png"))
        let url = try folder.dataset([Line.point("a", image: "link.png"), Line.point("b", image: "inner-link.png")], name: "data/train.jsonl")
        do {
            _ = try Dataset.open(url, options: DatasetOptions())
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.line == 1)
            #expect(error.problems.first?.message.contains("is a symlink that leads outside the dataset folder") == true)
        }
    }

    @Test func absolutePathsNeedThePermission() throws {
        let folder = try TemporaryFolder()
        let image = try folder.png("elsewhere/pic.png")
        let lines = [Line.point("a", image: image.path), Line.point("b", image: "../elsewhere/pic.png")]
        let url = try folder.dataset(lines, name: "data/train.jsonl")
        do {
            _ = try Dataset.open(url, options: DatasetOptions())
            Issue.record("expected a problem")
        } catch {
            #expect(error.problems.count == 2)
            #expect(error.problems.first?.message.contains("absolute path") == true)
        }
        let allowed = try Dataset.open(url, options: DatasetOptions(allowAbsolutePaths: true))
        #expect(try allowed.example(at: 0).image?.path == image.standardizedFileURL.path)
        #expect(try allowed.example(at: 1).image?.path == image.standardizedFileURL.path)
    }

    @Test func imageCacheMakesDataURLsAndStaysWithinItsCapacity() throws {
        let folder = try TemporaryFolder()
        let first = try folder.write("one.bin", TestImages.gif(width: 1, height: 1))
        let second = try folder.png("two.png", width: 4, height: 4)
        let third = try folder.png("three.png", width: 5, height: 5)
        let cache = ImageCache(capacityBytes: 220, maxImageBytes: 1000)
        let url = try cache.dataURL(for: first)
        #expect(url == "data:image/gif;base64," + Data(TestImages.gif(width: 1, height: 1)).base64EncodedString())
        _ = try cache.dataURL(for: second)
        _ = try cache.dataURL(for: third)
        #expect(cache.cachedBytes <= 220)
        #expect(try cache.dataURL(for: second).hasPrefix("data:image/png;base64,"))
    }

    @Test func imageCacheRefusesNonImagesAndOversizedFiles() throws {
        let folder = try TemporaryFolder()
        let text = try folder.write("note.png", "hello")
        let big = try folder.png("big.png", width: 50, height: 50)
        let cache = ImageCache(maxImageBytes: 100)
        #expect(throws: DatasetError.self) { try cache.dataURL(for: text) }
        do {
            _ = try cache.dataURL(for: big)
            Issue.record("expected a refusal")
        } catch {
            #expect(error.problems.first?.message.contains("above the cap of 100") == true)
        }
    }
}
