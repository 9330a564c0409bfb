/// Simple raster drawing in normalized coordinates (0–1), for sample images and for drawing
/// predictions over a user's image.
extension RGBImage {
    public mutating func fillRect(x0: Double, y0: Double, x1: Double, y1: Double, color: RGB) {
        let (left, top, right, bottom) = pixelBounds(x0, y0, x1, y1)
        guard left <= right, top <= bottom else { return }
        for y in top...bottom {
            for x in left...right { self[x, y] = color }
        }
    }

    public mutating func strokeRect(x0: Double, y0: Double, x1: Double, y1: Double, color: RGB, thickness: Int = 2) {
        let (left, top, right, bottom) = pixelBounds(x0, y0, x1, y1)
        guard left <= right, top <= bottom else { return }
        for t in 0..<max(1, thickness) {
            for x in left...right {
                self[x, top + t] = color
                self[x, bottom - t] = color
            }
            for y in top...bottom {
                self[left + t, y] = color
                self[right - t, y] = color
            }
        }
    }

    /// A filled ellipse inscribed in the box.
    public mutating func fillEllipse(x0: Double, y0: Double, x1: Double, y1: Double, color: RGB) {
        let (left, top, right, bottom) = pixelBounds(x0, y0, x1, y1)
        guard left <= right, top <= bottom else { return }
        let cx = Double(left + right) / 2, cy = Double(top + bottom) / 2
        let rx = max(0.5, Double(right - left) / 2), ry = max(0.5, Double(bottom - top) / 2)
        for y in top...bottom {
            for x in left...right {
                let dx = (Double(x) - cx) / rx, dy = (Double(y) - cy) / ry
                if dx * dx + dy * dy <= 1 { self[x, y] = color }
            }
        }
    }

    /// A filled triangle pointing up, inscribed in the box.
    public mutating func fillTriangle(x0: Double, y0: Double, x1: Double, y1: Double, color: RGB) {
        let (left, top, right, bottom) = pixelBounds(x0, y0, x1, y1)
        guard left <= right, top < bottom else { return }
        let cx = Double(left + right) / 2, halfWidth = Double(right - left) / 2
        for y in top...bottom {
            let progress = Double(y - top) / Double(bottom - top)
            let span = halfWidth * progress
            for x in Int((cx - span).rounded())...Int((cx + span).rounded()) { self[x, y] = color }
        }
    }

    /// A cross-hair marker at a point.
    public mutating func drawMarker(x: Double, y: Double, color: RGB, radius: Int = 6) {
        let px = Int((x * Double(width)).rounded()), py = Int((y * Double(height)).rounded())
        for d in -radius...radius {
            for t in -1...1 {
                self[px + d, py + t] = color
                self[px + t, py + d] = color
            }
        }
    }

    private func pixelBounds(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double) -> (Int, Int, Int, Int) {
        func clampX(_ v: Double) -> Int { min(width - 1, max(0, Int((v * Double(width)).rounded(.down)))) }
        func clampY(_ v: Double) -> Int { min(height - 1, max(0, Int((v * Double(height)).rounded(.down)))) }
        return (clampX(min(x0, x1)), clampY(min(y0, y1)), clampX(max(x0, x1)), clampY(max(y0, y1)))
    }
}
