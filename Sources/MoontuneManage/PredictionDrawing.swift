import Foundation
import MoondreamAPI
import MoontuneImaging

/// Draws predictions over the user's image and writes it as PNG, through the system's libpng and
/// libjpeg (`MoontuneImaging`).
package enum PredictionDrawing {
    /// Magenta: rarely the colour of the thing pointed at.
    package static let color = RGB(255, 0, 255)

    /// The image with boxes outlined and points marked (`RGBImage.drawOverlay`, shared with the
    /// report's gallery).
    package static func draw(imageBytes: [UInt8], points: [Point], boxes: [Box]) throws -> RGBImage {
        var image = try RGBImage.decode(imageBytes)
        image.drawOverlay(boxes: boxes.map { RGBImage.Rect(x0: $0.xMin, y0: $0.yMin, x1: $0.xMax, y1: $0.yMax) },
                          points: points.map { (x: $0.x, y: $0.y) }, color: color)
        return image
    }

    /// Decodes `imageFile`, draws, and writes a PNG to `output`.
    package static func write(imageFile: URL, points: [Point], boxes: [Box], to output: URL) throws {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: imageFile))
        } catch {
            throw ManageFailure("cannot read \(imageFile.path): \(error.localizedDescription)")
        }
        let image: RGBImage
        do {
            image = try draw(imageBytes: bytes, points: points, boxes: boxes)
        } catch let error as ImageCodecError {
            throw ManageFailure("cannot draw on \(imageFile.path): \(error.description)")
        }
        do {
            try Data(try image.pngData()).write(to: output, options: .atomic)
        } catch let error as ImageCodecError {
            throw ManageFailure("cannot encode \(output.path): \(error.description)")
        } catch {
            throw ManageFailure("cannot write \(output.path): \(error.localizedDescription)")
        }
    }
}
