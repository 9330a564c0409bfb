/// A tracker failed; the message says where and why (never a credential).
package struct TrackingError: Error, CustomStringConvertible, Sendable {
    package var description: String
    /// Whether the request may have been applied although it failed (a timeout, a lost answer).
    package var inDoubt: Bool

    package init(_ description: String, inDoubt: Bool = false) {
        self.description = description
        self.inDoubt = inDoubt
    }
}
