/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified, so a seeded sequence
/// does not depend on the Swift version's default generator. The one generator of the package:
/// the data order (which examples each step trains on, recorded jobs resume on it), the
/// simulator's sampling and faults, and the sample shape dataset all draw from it, so none of
/// their sequences may change.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` by Lemire's multiply-shift, without modulo bias worth the name
    /// (at most bound / 2⁶⁴).
    public mutating func next(below bound: UInt64) -> UInt64 {
        bound.multipliedFullWidth(by: next()).high
    }

    /// Uniform in [0, 1), from the top 53 bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
