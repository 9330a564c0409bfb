import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob

/// `moontune import-coco ANNOTATIONS.json --images DIR --out train.jsonl [--skill detect|point]`.
public struct ImportCocoCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "import-coco",
        abstract: "Convert a COCO detection file into a moontune dataset (JSONL).",
        discussion: """
            Writes one example per image and category present in it, the category name being the \
            object. Pixel boxes are normalized with the image sizes in the file. Crowd regions and \
            boxes of zero size are left out.
            """)

    @Argument(help: "The COCO annotations file (instances_*.json).")
    var annotations: String

    @Option(help: "The folder of the images the file names.")
    var images: String

    @Option(help: "The JSONL file to write.")
    var out: String

    @Option(help: "The skill of the examples: detect or point.")
    var skill: String = "detect"

    public init() {}

    public func validate() throws {
        guard skill == "detect" || skill == "point" else {
            throw ValidationError("--skill must be detect or point, got \(skill)")
        }
    }

    public func run() throws {
        let output = URL(fileURLWithPath: out)
        let summary: COCOImportSummary
        do {
            summary = try importCOCO(annotations: URL(fileURLWithPath: annotations), images: URL(fileURLWithPath: images),
                                     output: output, skill: skill == "point" ? .point : .detect)
        } catch {
            for problem in error.problems { print(problem) }
            let count = error.problems.count
            FileHandle.standardError.write(Data("\(count) problem\(count == 1 ? "" : "s") found; nothing was written\n".utf8))
            throw ExitCode(2)
        }
        print("wrote \(summary.examples) \(skill) examples (\(summary.boxes) boxes, \(summary.images) images) to \(out)")
        if summary.skippedCrowd > 0 { print("left out \(summary.skippedCrowd) crowd regions (iscrowd: 1)") }
        if summary.skippedEmpty > 0 { print("left out \(summary.skippedEmpty) boxes of zero width or height") }
        if summary.imagesWithoutAnnotations > 0 { print("\(summary.imagesWithoutAnnotations) images have no annotation and gave no example") }
        if summary.absolutePaths {
            print("the images are outside the folder of \(out), so their paths are absolute: set \"allow_absolute_paths\": true in the config's data section")
        }
    }
}
