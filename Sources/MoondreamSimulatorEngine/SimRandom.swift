import MoontuneRandom

/// The simulator's generator is the package's SplitMix64, so a simulator started with `--seed`
/// replays exactly for a sequential client.
package typealias SimRandom = SplitMix64

extension SplitMix64 {
    /// A generator for one stream derived from a seed and a label (sampling, faults, ids...).
    package init(seed: UInt64, stream: UInt64) {
        var mixer = SplitMix64(seed: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        self.init(seed: mixer.next())
    }

    /// Uniform in [low, high).
    package mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * unit()
    }

    /// Standard normal (Box–Muller).
    package mutating func gaussian() -> Double {
        let u1 = max(unit(), 0x1.0p-53)
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
