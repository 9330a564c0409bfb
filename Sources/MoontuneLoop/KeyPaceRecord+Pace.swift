import MoondreamAPI
import MoontuneStore

extension KeyPaceRecord {
    /// The record of a key's pace as it stands at `now` (monotonic), written at `wallMs`.
    public init(pace: RatePace, keyID: String, source: String, now: ContinuousClock.Instant, wallMs: Int64) {
        let held = pace.held(at: now).map { instant -> Int64 in
            let left = (instant - now).components
            return wallMs + left.seconds * 1000 + left.attoseconds / 1_000_000_000_000_000
        }
        self.init(source: source, keyID: keyID, pacePerSecond: pace.rate, ceilingPerSecond: pace.ceiling, heldUntilMs: held,
                  rateLimited: pace.rateLimited, accepted: pace.accepted, updatedAtMs: wallMs)
    }
}
