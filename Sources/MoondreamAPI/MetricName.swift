/// The rules the live service applies to `POST /finetunes/:id/metrics` (from the official SDK's
/// documentation): names of `[A-Za-z0-9_/-]+` that do not start with `sys/` or `usr/` (the
/// service's own namespaces), 1 to 100 metrics per call, finite values.
public enum MetricName {
    public static let maxPerCall = 100

    /// Whether the service accepts `name` as a metric name.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("sys/"), !name.hasPrefix("usr/") else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "-")
        }
    }

    /// What the service would refuse in `metrics`, or nil.
    public static func problem(in metrics: [String: Double]) -> String? {
        guard (1...maxPerCall).contains(metrics.count) else {
            return "1 to \(maxPerCall) metrics per call, got \(metrics.count)"
        }
        for (name, value) in metrics.sorted(by: { $0.key < $1.key }) {
            guard isValid(name) else {
                return "metric name '\(name)' is not accepted (letters, digits, '_', '/', '-'; not sys/ or usr/)"
            }
            guard value.isFinite else { return "metric '\(name)' is not a finite number" }
        }
        return nil
    }
}
