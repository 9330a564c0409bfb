import MoontuneConfig
import MoontuneJSON
import Foundation
import MoondreamAPI

/// What a COCO import wrote.
public struct COCOImportSummary: Sendable, Equatable {
    public var output: URL
    /// Images with at least one usable box.
    public var images = 0
    /// Lines written: one per image and category.
    public var examples = 0
    public var boxes = 0
    /// Crowd regions (`iscrowd: 1`) left out, as COCO's own evaluation does.
    public var skippedCrowd = 0
    /// Boxes of zero width or height left out.
    public var skippedEmpty = 0
    /// Images that had no annotation and so gave no example.
    public var imagesWithoutAnnotations = 0
    /// True when the images are not inside the output's folder, so their paths were written
    /// absolute and the config needs `data.allow_absolute_paths`.
    public var absolutePaths = false
}

/// Converts a COCO detection file into moontune's JSONL: one example per image and category
/// present in it, the category's name as the object, pixel boxes `[x, y, w, h]` normalized by
/// the image's size from the file (or from the image's header when the file has none).
/// `skill` is `detect` (ground truth: boxes) or `point` (ground truth: boxes, scored by
/// containment). The output is written to a temporary file and renamed, so it is never half-written.
public func importCOCO(annotations: URL, images: URL, output: URL, skill: Skill = .detect) throws(DatasetError) -> COCOImportSummary {
    let file = displayPath(annotations)
    guard skill != .query else {
        throw DatasetError(Problem(file: "import-coco", field: "--skill", message: "COCO import makes point or detect examples, not query"))
    }
    let document = try COCODocument.load(annotations)
    var problems: [Problem] = []
    func problem(_ field: String, _ message: String) {
        if problems.count < 1000 { problems.append(Problem(file: file, field: field, message: message)) }
    }

    var categories: [Int64: String] = [:]
    for (position, category) in document.categories.enumerated() {
        if categories[category.id] != nil { problem("categories[\(position)].id", "duplicate category id \(category.id)") }
        if category.name.trimmingCharacters(in: .whitespaces).isEmpty { problem("categories[\(position)].name", "empty category name") }
        categories[category.id] = category.name
    }
    var imageIDs = Set<Int64>()
    for (position, image) in document.images.enumerated() where !imageIDs.insert(image.id).inserted {
        problem("images[\(position)].id", "duplicate image id \(image.id)")
    }

    var summary = COCOImportSummary(output: output)
    var boxesByImage: [Int64: [Int64: [(Int, COCODocument.Annotation)]]] = [:]
    for (position, annotation) in document.annotations.enumerated() {
        let field = "annotations[\(position)]"
        guard imageIDs.contains(annotation.imageID) else { problem("\(field).image_id", "no image has id \(annotation.imageID)"); continue }
        guard categories[annotation.categoryID] != nil else {
            problem("\(field).category_id", "no category has id \(annotation.categoryID)")
            continue
        }
        guard annotation.bbox.count == 4, annotation.bbox.allSatisfy(\.isFinite) else {
            problem("\(field).bbox", "expected [x, y, width, height] in pixels")
            continue
        }
        if annotation.isCrowd == 1 { summary.skippedCrowd += 1; continue }
        if annotation.bbox[2] <= 0 || annotation.bbox[3] <= 0 { summary.skippedEmpty += 1; continue }
        boxesByImage[annotation.imageID, default: [:]][annotation.categoryID, default: []].append((position, annotation))
    }

    let outputFolder = output.deletingLastPathComponent().standardizedFileURL
    let imageFolder = images.standardizedFileURL
    summary.absolutePaths = !ImageLocator.isInside(imageFolder.path + "/", outputFolder.path)
    var lines: [String] = []
    for (position, image) in document.images.enumerated() {
        guard let byCategory = boxesByImage[image.id] else { summary.imagesWithoutAnnotations += 1; continue }
        let imageURL = imageFolder.appendingPathComponent(image.fileName).standardizedFileURL
        guard let size = imageSize(image, url: imageURL, field: "images[\(position)]", problem: problem) else { continue }
        let folderPrefix = outputFolder.path.hasSuffix("/") ? outputFolder.path : outputFolder.path + "/"
        let path = summary.absolutePaths ? imageURL.path : String(imageURL.path.dropFirst(folderPrefix.count))
        summary.images += 1
        for categoryID in byCategory.keys.sorted() {
            let boxes = (byCategory[categoryID] ?? []).map { normalized($0.1.bbox, width: size.width, height: size.height) }
            summary.boxes += boxes.count
            summary.examples += 1
            let line = JSONValue.members([
                "id": .string("\(image.id)-\(categoryID)"),
                "image": .string(path),
                "skill": .string(skill.rawValue),
                "object": .string(categories[categoryID] ?? ""),
                "ground_truth": GroundTruth.boxes(boxes).json,
            ])
            lines.append(line.serialized())
        }
    }
    if summary.examples == 0, problems.isEmpty { problem("annotations", "no usable annotation: nothing to import") }
    guard problems.isEmpty else { throw DatasetError(problems: problems) }
    try write(lines, to: output)
    return summary
}

/// `[x, y, w, h]` in pixels → a normalized box, clamped to the image (COCO boxes may overhang by
/// a fraction of a pixel).
package func normalized(_ bbox: [Double], width: Double, height: Double) -> Box {
    func clamp(_ value: Double) -> Double { min(1, max(0, value)) }
    return Box(xMin: clamp(bbox[0] / width), yMin: clamp(bbox[1] / height),
               xMax: clamp((bbox[0] + bbox[2]) / width), yMax: clamp((bbox[1] + bbox[3]) / height))
}

private func imageSize(_ image: COCODocument.Image, url: URL, field: String,
                       problem: (String, String) -> Void) -> (width: Double, height: Double)? {
    if let width = image.width, let height = image.height, width > 0, height > 0 {
        return (Double(width), Double(height))
    }
    // The file gives no size: read it from the image's header.
    let locator = ImageLocator(datasetURL: url, maxBytes: .max, allowOutside: true)
    switch locator.probe(url) {
    case .success(let info): return (Double(info.width), Double(info.height))
    case .failure(let error):
        problem("\(field).width", "no width and height in the file, and the image gives none: \(error.message)")
        return nil
    }
}

private func write(_ lines: [String], to output: URL) throws(DatasetError) {
    let temporary = output.deletingLastPathComponent()
        .appendingPathComponent(".\(output.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
    do {
        let text = lines.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: temporary)
        if FileManager.default.fileExists(atPath: output.path) {
            _ = try FileManager.default.replaceItemAt(output, withItemAt: temporary)
        } else {
            try FileManager.default.moveItem(at: temporary, to: output)
        }
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw DatasetError(Problem(file: displayPath(output), field: "", message: "cannot write: \(JobConfig.reason(error))"))
    }
}

/// The parts of a COCO detection file the import reads.
package struct COCODocument: Decodable {
    package struct Image: Decodable {
        package var id: Int64
        package var fileName: String
        package var width: Int?
        package var height: Int?
        package enum CodingKeys: String, CodingKey { case id, fileName = "file_name", width, height }
    }

    package struct Annotation: Decodable {
        package var imageID: Int64
        package var categoryID: Int64
        package var bbox: [Double]
        package var isCrowd: Int?
        package enum CodingKeys: String, CodingKey { case imageID = "image_id", categoryID = "category_id", bbox, isCrowd = "iscrowd" }
    }

    package struct Category: Decodable {
        package var id: Int64
        package var name: String
    }

    package var images: [Image]
    package var annotations: [Annotation]
    package var categories: [Category]

    package static func load(_ url: URL) throws(DatasetError) -> COCODocument {
        let file = displayPath(url)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DatasetError(Problem(file: file, field: "", message: "cannot read: \(JobConfig.reason(error))"))
        }
        do {
            return try JSONDecoder().decode(COCODocument.self, from: data)
        } catch let error as DecodingError {
            throw DatasetError(Problem(file: file, field: fieldPath(error), message: describe(error)))
        } catch {
            throw DatasetError(Problem(file: file, field: "", message: "not a COCO file: \(error)"))
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.reduce("") { text, key in
            if let index = key.intValue { return text + "[\(index)]" }
            return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
        }
    }

    private static func fieldPath(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context): return path(context.codingPath + [key])
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return path(context.codingPath)
        @unknown default: return ""
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound: return "missing (a COCO detection file has images, annotations and categories)"
        case .typeMismatch(let type, _): return "expected \(type == String.self ? "a string" : type == [Double].self ? "a list of numbers" : "a number")"
        case .valueNotFound: return "missing value"
        case .dataCorrupted(let context): return "invalid JSON: \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
