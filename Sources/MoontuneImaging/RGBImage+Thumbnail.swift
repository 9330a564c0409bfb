/// Thumbnails and overlays: a user's image made small, with boxes and points drawn over it (the
/// report's gallery, `predict --draw`).
extension RGBImage {
    /// A box in normalized coordinates (0–1).
    public struct Rect: Sendable, Equatable {
        public var x0: Double
        public var y0: Double
        public var x1: Double
        public var y1: Double
        public init(x0: Double, y0: Double, x1: Double, y1: Double) {
            self.x0 = x0
            self.y0 = y0
            self.x1 = x1
            self.y1 = y1
        }
    }

    /// The image scaled down so that its longer side is at most `maxSide` pixels, keeping its
    /// aspect ratio; an image already that small is returned as it is (never scaled up).
    ///
    /// Each output pixel is the mean of an even grid of up to 4×4 samples over the source pixels
    /// it covers: smooth enough for a thumbnail, and its cost depends on the thumbnail's size, not
    /// on the source's (a 24-megapixel photo takes as long as a small one).
    public func downscaled(maxSide: Int) -> RGBImage {
        let side = max(1, maxSide)
        guard width > side || height > side else { return self }
        let scale = Double(side) / Double(max(width, height))
        let outWidth = max(1, Int((Double(width) * scale).rounded()))
        let outHeight = max(1, Int((Double(height) * scale).rounded()))
        let stepX = Double(width) / Double(outWidth), stepY = Double(height) / Double(outHeight)
        let samplesX = min(4, max(1, Int(stepX.rounded(.up)))), samplesY = min(4, max(1, Int(stepY.rounded(.up))))
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        let count = samplesX * samplesY
        pixels.withUnsafeBufferPointer { source in
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var r = 0, g = 0, b = 0
                    for sy in 0..<samplesY {
                        let y = min(height - 1, Int(Double(oy) * stepY + (Double(sy) + 0.5) * stepY / Double(samplesY)))
                        for sx in 0..<samplesX {
                            let x = min(width - 1, Int(Double(ox) * stepX + (Double(sx) + 0.5) * stepX / Double(samplesX)))
                            let index = (y * width + x) * 3
                            r += Int(source[index])
                            g += Int(source[index + 1])
                            b += Int(source[index + 2])
                        }
                    }
                    let index = (oy * outWidth + ox) * 3
                    out[index] = UInt8(r / count)
                    out[index + 1] = UInt8(g / count)
                    out[index + 2] = UInt8(b / count)
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }

    /// Outlines `boxes` and marks `points` in `color`, with line widths that follow the image's
    /// size so that they stay visible on large photos and small thumbnails alike.
    ///
    /// With `halo`, each mark gets a white edge first, so that it stays visible on a shape of its
    /// own colour (a green ground truth on a green object).
    public mutating func drawOverlay(boxes: [Rect], points: [(x: Double, y: Double)], color: RGB, halo: RGB? = nil) {
        let side = min(width, height)
        let thickness = max(2, side / 150)
        let radius = max(6, side / 40)
        if let halo {
            for box in boxes {
                strokeRect(x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1, color: halo, thickness: thickness + 1)
            }
            for point in points {
                let px = Int((point.x * Double(width)).rounded()), py = Int((point.y * Double(height)).rounded())
                for d in -(radius + 1)...(radius + 1) {
                    for t in -2...2 {
                        self[px + d, py + t] = halo
                        self[px + t, py + d] = halo
                    }
                }
            }
        }
        for box in boxes {
            strokeRect(x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1, color: color, thickness: thickness)
        }
        for point in points {
            drawMarker(x: point.x, y: point.y, color: color, radius: radius)
        }
    }
}
