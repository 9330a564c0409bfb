import Foundation
import MoondreamAPI
import MoontuneImaging
import MoontuneStore

/// One example's outcome under one model or at one eval, as the gallery reads it.
package struct GalleryOutcome: Sendable, Equatable {
    package var exampleID: String
    package var position: Int
    package var skill: String
    package var reward: Double
    package var prediction: ExamplePrediction?
    package var truth: ExampleTruth?
    package var imagePath: String?

    package init(exampleID: String, position: Int, skill: String, reward: Double, prediction: ExamplePrediction?,
                 truth: ExampleTruth?, imagePath: String?) {
        self.exampleID = exampleID
        self.position = position
        self.skill = skill
        self.reward = reward
        self.prediction = prediction
        self.truth = truth
        self.imagePath = imagePath
    }

    package init(_ record: EvalExampleRecord) {
        self.init(exampleID: record.exampleID, position: record.position, skill: record.skill, reward: record.reward,
                  prediction: ExamplePrediction(json: record.predictionJSON), truth: ExampleTruth(json: record.truthJSON),
                  imagePath: record.imagePath)
    }
}

/// The gallery of eval examples: each example's image with its ground truth and prediction
/// drawn, before (the first eval, or the base model) and after (the latest eval, or the
/// finetuned model), side by side. The most improved first, then the most regressed, then the
/// rest in eval-set order, at most `cap` examples.
///
/// Thumbnails are small JPEGs (longest side `thumbnailSide`, quality `jpegQuality`) embedded as
/// data URLs, so the page stays one file: 24 examples × 2 thumbnails of about 10–20 KB each. An
/// image that cannot be read or decoded now gets a placeholder naming why; it never fails the page.
package struct EvalGallery: Sendable {
    package static let cap = 24
    package static let thumbnailSide = 256
    package static let jpegQuality = 75
    /// Green for the ground truth, magenta for the prediction (as `predict --draw` draws it).
    package static let truthColor = RGB(22, 163, 74)
    package static let predictionColor = RGB(255, 0, 255)
    package static let truthCSS = "#16a34a"
    package static let predictionCSS = "#ff00ff"

    /// One example of the gallery: its outcomes before and after.
    package struct Pair: Sendable, Equatable {
        package var before: GalleryOutcome?
        package var after: GalleryOutcome
        /// after − before; nil without a before.
        package var delta: Double? { before.map { after.reward - $0.reward } }
    }

    /// A drawn thumbnail, or why there is none.
    package enum Thumbnail: Sendable, Equatable {
        case jpeg(dataURL: String, width: Int, height: Int, bytes: Int)
        case placeholder(String)
    }

    package struct Item: Sendable {
        package var pair: Pair
        package var before: Thumbnail?
        package var after: Thumbnail
    }

    package var beforeLabel: String
    package var afterLabel: String
    package var items: [Item]
    /// How many examples the two sides have in common (the gallery shows at most `cap` of them).
    package var total: Int

    /// Pairs the outcomes by example id and orders them: improved (largest gain first), then
    /// regressed (largest loss first), then unchanged or unpaired in eval-set order; at most `cap`.
    package static func order(before: [GalleryOutcome], after: [GalleryOutcome], cap: Int = cap) -> [Pair] {
        let earlier = Dictionary(before.map { ($0.exampleID, $0) }, uniquingKeysWith: { a, _ in a })
        let pairs = after.map { Pair(before: earlier[$0.exampleID], after: $0) }
        let improved = pairs.filter { ($0.delta ?? 0) > 0 }.sorted { ($0.delta!, -$0.after.position) > ($1.delta!, -$1.after.position) }
        let regressed = pairs.filter { ($0.delta ?? 0) < 0 }.sorted { ($0.delta!, $0.after.position) < ($1.delta!, $1.after.position) }
        let rest = pairs.filter { ($0.delta ?? 0) == 0 }.sorted { $0.after.position < $1.after.position }
        return Array((improved + regressed + rest).prefix(max(0, cap)))
    }

    /// The gallery with its thumbnails drawn. Blocking work (files, decoding, encoding): call it
    /// off the cooperative pool. `before` empty (a single eval) shows one column.
    package static func build(before: [GalleryOutcome], after: [GalleryOutcome], beforeLabel: String, afterLabel: String,
                              cap: Int = cap) -> EvalGallery {
        let pairs = order(before: before, after: after, cap: cap)
        let items = pairs.map { pair -> Item in
            let base = loadThumbnailBase(pair.after.imagePath ?? pair.before?.imagePath)
            return Item(pair: pair, before: pair.before.map { draw(base, outcome: $0) }, after: draw(base, outcome: pair.after))
        }
        return EvalGallery(beforeLabel: beforeLabel, afterLabel: afterLabel, items: items, total: after.count)
    }

    /// The image scaled down once for both sides, or why there is none.
    static func loadThumbnailBase(_ path: String?) -> Result<RGBImage, GalleryImageError> {
        guard let path else { return .failure(GalleryImageError("no image")) }
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            return .failure(GalleryImageError("image missing: \(path)"))
        }
        do {
            return .success(try RGBImage.decode(bytes).downscaled(maxSide: thumbnailSide))
        } catch {
            return .failure(GalleryImageError("cannot draw \(URL(fileURLWithPath: path).lastPathComponent): \(error)"))
        }
    }

    /// A thumbnail with the outcome's ground truth (green) and prediction (magenta) drawn.
    package static func draw(_ base: Result<RGBImage, GalleryImageError>, outcome: GalleryOutcome) -> Thumbnail {
        guard case .success(var image) = base else {
            if case .failure(let error) = base { return .placeholder(error.message) }
            return .placeholder("no image")
        }
        if let truth = outcome.truth {
            image.drawOverlay(boxes: (truth.boxes ?? []).map(rect), points: (truth.points ?? []).map { (x: $0.x, y: $0.y) },
                              color: truthColor, halo: RGB(255, 255, 255))
        }
        if let prediction = outcome.prediction {
            image.drawOverlay(boxes: (prediction.boxes ?? []).map(rect), points: (prediction.points ?? []).map { (x: $0.x, y: $0.y) },
                              color: predictionColor, halo: RGB(255, 255, 255))
        }
        do {
            let jpeg = try image.jpegData(quality: jpegQuality)
            return .jpeg(dataURL: "data:image/jpeg;base64," + Data(jpeg).base64EncodedString(), width: image.width, height: image.height,
                         bytes: jpeg.count)
        } catch {
            return .placeholder("cannot encode the thumbnail: \(error)")
        }
    }

    static func rect(_ box: Box) -> RGBImage.Rect { RGBImage.Rect(x0: box.xMin, y0: box.yMin, x1: box.xMax, y1: box.yMax) }

    /// What the template shows.
    package var context: [String: Any] {
        [
            "hasGallery": !items.isEmpty,
            "galleryNote": note,
            "galleryTwoSides": items.contains { $0.before != nil },
            "truthColor": Self.truthCSS,
            "predictionColor": Self.predictionCSS,
            "galleryItems": items.map(Self.itemContext(beforeLabel: beforeLabel, afterLabel: afterLabel)),
        ]
    }

    var note: String {
        let shown = items.count < total ? "\(items.count) of \(total) examples" : "\(items.count) examples"
        guard items.contains(where: { $0.before != nil }) else { return "\(shown) at \(afterLabel)" }
        return "\(shown), \(beforeLabel) against \(afterLabel): the most improved first, then the most regressed, then the rest"
    }

    static func itemContext(beforeLabel: String, afterLabel: String) -> (Item) -> [String: Any] {
        { item in
            var cells: [[String: Any]] = []
            if let before = item.pair.before, let thumbnail = item.before {
                cells.append(cell(label: beforeLabel, outcome: before, thumbnail: thumbnail))
            }
            cells.append(cell(label: afterLabel, outcome: item.pair.after, thumbnail: item.after))
            let delta = item.pair.delta
            let change = delta.map { $0 > 0 ? "improved" : $0 < 0 ? "regressed" : "unchanged" } ?? "single"
            return [
                "id": item.pair.after.exampleID,
                "skill": item.pair.after.skill,
                "change": change,
                "deltaText": delta.map { String(format: "%+.3f", $0) } ?? "",
                "cells": cells,
            ]
        }
    }

    static func cell(label: String, outcome: GalleryOutcome, thumbnail: Thumbnail) -> [String: Any] {
        var context: [String: Any] = ["label": label, "reward": String(format: "%.3f", outcome.reward), "lines": textLines(outcome)]
        switch thumbnail {
        case .jpeg(let dataURL, let width, let height, _):
            context["src"] = dataURL
            context["width"] = width
            context["height"] = height
        case .placeholder(let reason):
            context["placeholder"] = reason
        }
        return context
    }

    /// The words beside the picture: the question and the answers for query; what was looked for
    /// and how many were found otherwise.
    static func textLines(_ outcome: GalleryOutcome) -> [String] {
        let truth = outcome.truth
        switch outcome.skill {
        case "query":
            return ["Q: " + (truth?.question ?? "-"),
                    "expected: " + ((truth?.answers ?? []).isEmpty ? "-" : (truth?.answers ?? []).joined(separator: " | ")),
                    "predicted: " + (outcome.prediction?.answer ?? "(no answer)")]
        case "detect":
            return ["\(truth?.object ?? "-"): \(truth?.boxes?.count ?? 0) true, \(outcome.prediction?.boxes?.count ?? 0) predicted"]
        default:
            let expected = truth?.points?.count ?? truth?.boxes?.count ?? 0
            return ["\(truth?.object ?? "-"): \(expected) true, \(outcome.prediction?.points?.count ?? 0) predicted"]
        }
    }
}

extension EvalGallery {
    /// What a gallery is drawn from: the outcomes of its two sides, read beforehand.
    package struct Source: Sendable {
        package var before: [GalleryOutcome]
        package var after: [GalleryOutcome]
        package var beforeLabel: String
        package var afterLabel: String

        package init(before: [GalleryOutcome], after: [GalleryOutcome], beforeLabel: String, afterLabel: String) {
            self.before = before
            self.after = after
            self.beforeLabel = beforeLabel
            self.afterLabel = afterLabel
        }

        /// The first and the latest eval that recorded examples (one side when they are the same
        /// eval); nil when no eval recorded any (a job evaluated before examples were recorded).
        package static func load(jobID: Int64, evals: [EvalRecord], store: ProgressStore) async throws -> Source? {
            let counts = try await store.evalExampleCounts(jobID: jobID)
            let withExamples = evals.map(\.step).filter { (counts[$0] ?? 0) > 0 }
            guard let first = withExamples.first, let last = withExamples.last else { return nil }
            let after = try await store.evalExamples(jobID: jobID, step: last).map(GalleryOutcome.init)
            let before = first == last ? [] : try await store.evalExamples(jobID: jobID, step: first).map(GalleryOutcome.init)
            return Source(before: before, after: after, beforeLabel: "step \(first)", afterLabel: "step \(last)")
        }

        /// Draws the thumbnails: blocking work, off the cooperative pool.
        package func build(cap: Int = EvalGallery.cap) -> EvalGallery {
            EvalGallery.build(before: before, after: after, beforeLabel: beforeLabel, afterLabel: afterLabel, cap: cap)
        }
    }
}

package struct GalleryImageError: Error, Sendable, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
}
