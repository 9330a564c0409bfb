import Foundation
import Testing

/// Every end-to-end suite nests here, so that they run one at a time: each starts real processes
/// and a simulator, and timing-sensitive checks (kills, outages, locks) must not compete for the
/// machine's two cores with one another.
@Suite(.serialized) enum EndToEnd {
    /// The long tests (the soak, fifty kills) run under `make soak`, which sets MOONTUNE_SOAK=1.
    static let soak = ProcessInfo.processInfo.environment["MOONTUNE_SOAK"] == "1"
}
