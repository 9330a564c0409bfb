import MoontuneConfig
import Foundation

/// The query comparisons. Every one gives 1 when the answer matches any accepted answer, else 0.
package enum AnswerMatcher {
    package static let articles: Set<String> = ["a", "an", "the"]
    private static let trimmed = CharacterSet.punctuationCharacters.union(.symbols)

    /// Lowercased words, each stripped of the punctuation around it, without articles:
    /// `"The car is RED."` → `["car", "is", "red"]`.
    package static func words(_ text: String) -> [String] {
        text.lowercased()
            .split(whereSeparator: { $0.isWhitespace })
            .map { $0.trimmingCharacters(in: trimmed) }
            .filter { !$0.isEmpty && !articles.contains($0) }
    }

    package static func normalized(_ text: String) -> String { words(text).joined(separator: " ") }

    package static func matches(_ answer: String, _ accepted: String, mode: QueryMatch, tolerance: Double) -> Bool {
        switch mode {
        case .exact:
            return normalized(answer) == normalized(accepted)
        case .contains:
            let haystack = words(answer), needle = words(accepted)
            guard !needle.isEmpty else { return haystack.isEmpty }
            guard needle.count <= haystack.count else { return false }
            return (0...(haystack.count - needle.count)).contains { start in
                haystack[start..<start + needle.count].elementsEqual(needle)
            }
        case .regex:
            guard let regex = try? NSRegularExpression(pattern: accepted) else { return false }
            return regex.firstMatch(in: answer, range: NSRange(answer.startIndex..., in: answer)) != nil
        case .numeric:
            guard let expected = number(in: accepted), let given = number(in: answer) else { return false }
            return abs(given - expected) <= tolerance * max(1, abs(expected))
        }
    }

    // MARK: - Numbers

    private static let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                      "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                      "seventeen", "eighteen", "nineteen", "twenty"]
    // Digits with optional thousands separators, fraction and exponent; or a number word.
    private static let numberPattern = try? NSRegularExpression(
        pattern: #"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\b(?:"#
            + numberWords.joined(separator: "|") + #")\b"#,
        options: [.caseInsensitive])

    /// The first number written in `text`, in digits or as a word from zero to twenty.
    package static func number(in text: String) -> Double? {
        guard let pattern = numberPattern,
              let match = pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range, in: text) else { return nil }
        let token = text[range].lowercased()
        if let word = numberWords.firstIndex(of: token) { return Double(word) }
        return Double(token.replacingOccurrences(of: ",", with: ""))
    }
}

/// Checks of accepted answers at validation time, so a bad one is reported with its line
/// instead of silently scoring 0 during training.
package enum QueryAnswerCheck {
    package static func problem(with accepted: String, for mode: QueryMatch?) -> String? {
        switch mode {
        case .regex:
            do {
                _ = try NSRegularExpression(pattern: accepted)
                return nil
            } catch {
                return "\"\(accepted)\" is not a valid regular expression (reward.query is \"regex\")"
            }
        case .numeric:
            guard let value = AnswerMatcher.number(in: accepted), value.isFinite else {
                return "\"\(accepted)\" has no number in it (reward.query is \"numeric\")"
            }
            return nil
        case .exact, .contains:
            return AnswerMatcher.normalized(accepted).isEmpty
                ? "\"\(accepted)\" is empty once case, punctuation and articles are set aside" : nil
        case nil:
            return accepted.isEmpty ? "must not be empty" : nil
        }
    }
}
