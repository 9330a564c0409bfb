import MoontuneJSON
import Foundation

/// Opaque pagination cursors: base64url of a small JSON object naming the last item returned
/// (`{"after": n}`), so a client cannot make sense of them but the simulator can check them.
package enum PageCursor {
    package static func encode(after position: Int) -> String {
        let text = JSONValue.members([("after", .int(position))]).serialized()
        return Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    package static func decode(_ cursor: String) throws(APIFailure) -> Int {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64),
              let value = try? JSONValue.parseNormalized(Array(data)),
              let position = value["after"]?.intValue, position >= 0 else {
            throw .badRequest("cursor is not a cursor this server issued")
        }
        return position
    }

    /// Reads `limit` (default 50, 1–100) and `cursor` from a query string.
    package static func parameters(limit: String?, cursor: String?) throws(APIFailure) -> (limit: Int, after: Int?) {
        var size = 50
        if let limit {
            guard let parsed = Int(limit), (1...100).contains(parsed) else {
                throw .badRequest("limit must be an integer from 1 to 100, got '\(limit)'")
            }
            size = parsed
        }
        guard let cursor, !cursor.isEmpty else { return (size, nil) }
        return (size, try decode(cursor))
    }
}
