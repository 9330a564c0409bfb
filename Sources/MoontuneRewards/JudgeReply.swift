import Foundation
import MoontuneJSON

/// Reads a judge's score from a chat completions answer: `choices[0].message.content` holding a
/// JSON object with a numeric `score` (bare, or inside a ```json fence), or a bare number. The
/// score must lie in [0, 1]. Anything else is an error that quotes the reply (shortened): a
/// reply without a usable score never becomes a silent 0.
public enum JudgeReply {
    /// The longest part of a reply an error quotes.
    public static let quoteLimit = 200

    /// The score in the body of a 2xx answer.
    public static func score(body: [UInt8]) throws(JudgeReplyError) -> Double {
        let root: JSONNode
        do {
            root = try JSONParser.parse(body)
        } catch {
            throw JudgeReplyError("the answer is not JSON", quote: String(decoding: body, as: UTF8.self))
        }
        guard let message = root.value["choices"]?.arrayValue?.first?["message"] else {
            throw JudgeReplyError("the answer has no choices[0].message", quote: String(decoding: body, as: UTF8.self))
        }
        let content: String
        switch message["content"] {
        case .string(let text)?:
            content = text
        case .array(let parts)?:
            // Some providers answer content parts: [{"type": "text", "text": "..."}].
            content = parts.compactMap { $0.value["text"]?.stringValue }.joined()
        default:
            throw JudgeReplyError("choices[0].message.content is not text", quote: String(decoding: body, as: UTF8.self))
        }
        return try score(content: content)
    }

    /// The score in a reply's text.
    public static func score(content: String) throws(JudgeReplyError) -> Double {
        let trimmed = content.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let found = candidate(trimmed) ?? fenced(trimmed).flatMap(candidate) else {
            throw JudgeReplyError("no score in the reply (expected {\"score\": s}, bare or in a ```json fence, or a bare number)",
                                  quote: content)
        }
        guard found.isFinite, (0...1).contains(found) else {
            throw JudgeReplyError("the score \(found) is outside [0, 1]", quote: content)
        }
        return found
    }

    /// A bare number, or a JSON object's numeric `score`.
    private static func candidate(_ text: String) -> Double? {
        guard let node = try? JSONParser.parse(Array(text.utf8), allowNonFinite: true) else { return nil }
        switch node.value {
        case .number(let number): return number.double
        case .object: return node.value["score"]?.doubleValue
        default: return nil
        }
    }

    /// The inside of the first ``` fence (```json or plain), if any.
    private static func fenced(_ text: String) -> String? {
        guard let open = text.range(of: "```") else { return nil }
        var rest = text[open.upperBound...]
        // The info string: the rest of the opening line (`json`, `JSON`, nothing).
        if let newline = rest.firstIndex(of: "\n") {
            let info = rest[..<newline].trimmingCharacters(in: .whitespaces)
            if info.isEmpty || info.allSatisfy({ $0.isLetter }) { rest = rest[rest.index(after: newline)...] }
        }
        guard let close = rest.range(of: "```") else { return nil }
        return rest[..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func shorten(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: "\\n")
        return flat.count > quoteLimit ? String(flat.prefix(quoteLimit)) + "…" : flat
    }
}

/// A judge's answer without a usable score, with the reply quoted (shortened).
public struct JudgeReplyError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var quote: String

    public init(_ reason: String, quote: String) {
        self.reason = reason
        self.quote = JudgeReply.shorten(quote)
    }

    public var description: String { "\(reason); the judge replied: \"\(quote)\"" }
}
