/// Shrinks a long series for a sparkline or a chart: consecutive values averaged into at most
/// `buckets` buckets, so a job of 100,000 steps draws as quickly as one of 100.
package enum Downsample {
    /// The means of `buckets` near-equal consecutive runs of `values` (the values themselves
    /// when there are no more than `buckets`).
    package static func means(_ values: [Double], buckets: Int) -> [Double] {
        guard buckets > 0, values.count > buckets else { return values }
        return ranges(count: values.count, buckets: buckets).map { range in
            values[range].reduce(0, +) / Double(range.count)
        }
    }

    /// The index ranges of the buckets: contiguous, covering `0..<count`, none empty.
    package static func ranges(count: Int, buckets: Int) -> [Range<Int>] {
        guard count > 0, buckets > 0 else { return [] }
        let n = min(count, buckets)
        return (0..<n).map { bucket in (bucket * count / n)..<((bucket + 1) * count / n) }
    }
}
