import Foundation
import MoondreamAPI
import MoontuneImaging

/// Draws predictions over the user's image and writes it as PNG, through the system's libpng and
/// libjpeg (`MoontuneImaging`).
enum PredictionDrawing {
    /// Magenta: rarely the colour of the thing pointed at.
    static let color = RGB(255, 0, 255)

    /// The image with boxes outlined and points marked. Line widths follow the image's size so
    /// that they stay visible on large photos.
    static func draw(imageBytes: [UInt8], points: [Point], boxes: [Box]) throws -> RGBImage {
        var image = try RGBImage.decode(imageBytes)
        let side = min(image.width, image.height)
        let thickness = max(2, side / 150)
        for box in boxes {
            image.strokeRect(x0: box.xMin, y0: box.yMin, x1: box.xMax, y1: box.yMax, color: color, thickness: thickness)
        }
        for point in points {
            image.drawMarker(x: point.x, y: point.y, color: color, radius: max(6, side / 40))
        }
        return image
    }

    /// Decodes `imageFile`, draws, and writes a PNG to `output`.
    static func write(imageFile: URL, points: [Point], boxes: [Box], to output: URL) throws {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: imageFile))
        } catch {
            throw CommandFailure("cannot read \(imageFile.path): \(error.localizedDescription)")
        }
        let image: RGBImage
        do {
            image = try draw(imageBytes: bytes, points: points, boxes: boxes)
        } catch let error as ImageCodecError {
            throw CommandFailure("cannot draw on \(imageFile.path): \(error.description)")
        }
        do {
            try Data(try image.pngData()).write(to: output, options: .atomic)
        } catch let error as ImageCodecError {
            throw CommandFailure("cannot encode \(output.path): \(error.description)")
        } catch {
            throw CommandFailure("cannot write \(output.path): \(error.localizedDescription)")
        }
    }
}
