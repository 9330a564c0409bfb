import ArgumentParser
import Foundation
import MoontuneImaging

/// `moontune bench-data DIR` (hidden): the benchmark's datasets. Noisy JPEGs of a set size, for
/// the client-cost figures, and train sets of any length (a million lines) for the scale ones.
struct BenchDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data",
        abstract: "Write a benchmark dataset: DIR/images/ and DIR/train.jsonl.",
        shouldDisplay: false)

    @Argument(help: "The folder to write into (created if needed).")
    var directory: String

    @Option(help: "Distinct images.")
    var images = 16

    @Option(name: .customLong("image-kb"), help: "Approximate JPEG size in KB (noisy images); 0 writes small PNGs.")
    var imageKB = 0

    @Option(help: "Lines of train.jsonl, cycling over the images' examples; 0 writes three per image.")
    var lines = 0

    @Option(help: "Seed of the shapes and the noise.")
    var seed: UInt64 = 7

    func validate() throws {
        guard (1...10_000).contains(images) else { throw ValidationError("--images must be from 1 to 10000") }
        guard (0...20_000).contains(imageKB) else { throw ValidationError("--image-kb must be from 0 to 20000") }
        guard (0...100_000_000).contains(lines) else { throw ValidationError("--lines must be from 0 to 100000000") }
    }

    func run() throws {
        var options = BenchDataset.Options()
        options.images = images
        options.targetBytes = imageKB * 1000
        options.lines = lines
        options.seed = seed
        let url = try BenchDataset.write(to: URL(fileURLWithPath: directory), options: options)
        print("wrote \(images) images and \(url.path)")
    }
}
