import MoontuneConfig
import MoontuneDataset

/// The `text_similarity` metrics, pure, on the words `exact` compares (`AnswerMatcher.words`:
/// lowercased, split on whitespace, punctuation and symbols stripped from both ends of each word,
/// "a", "an", "the" dropped). docs/rewards.md defines each.
public enum TextSimilarity {
    /// The best score of `answer` over the accepted answers; 0 when there are none.
    public static func best(_ metric: SimilarityMetric, answer: String, accepted: [String]) -> Double {
        accepted.map { score(metric, answer: answer, reference: $0) }.max() ?? 0
    }

    public static func score(_ metric: SimilarityMetric, answer: String, reference: String) -> Double {
        switch metric {
        case .tokenF1: tokenF1(answer, reference)
        case .rougeL: rougeL(answer, reference)
        case .charRatio: charRatio(answer, reference)
        }
    }

    /// c = the words both share, with multiplicity; P = c / |answer|, R = c / |reference|;
    /// 2PR / (P + R); 0 when c = 0; 1 when both are empty.
    public static func tokenF1(_ answer: String, _ reference: String) -> Double {
        let a = AnswerMatcher.words(answer), r = AnswerMatcher.words(reference)
        var counts: [String: Int] = [:]
        for word in r { counts[word, default: 0] += 1 }
        var common = 0
        for word in a where (counts[word] ?? 0) > 0 {
            counts[word]! -= 1
            common += 1
        }
        return f1(common: common, answerCount: a.count, referenceCount: r.count)
    }

    /// As `tokenF1` with c the length of the longest common subsequence of the two word lists.
    public static func rougeL(_ answer: String, _ reference: String) -> Double {
        let a = AnswerMatcher.words(answer), r = AnswerMatcher.words(reference)
        return f1(common: longestCommonSubsequence(a, r), answerCount: a.count, referenceCount: r.count)
    }

    /// 1 − Levenshtein(a, r) ÷ max(|a|, |r|) on the normalized words joined by single spaces,
    /// lengths in Unicode characters (grapheme clusters); 1 when both are empty.
    public static func charRatio(_ answer: String, _ reference: String) -> Double {
        let a = Array(AnswerMatcher.normalized(answer)), r = Array(AnswerMatcher.normalized(reference))
        let longer = max(a.count, r.count)
        guard longer > 0 else { return 1 }
        return 1 - Double(levenshtein(a, r)) / Double(longer)
    }

    static func f1(common: Int, answerCount: Int, referenceCount: Int) -> Double {
        if answerCount == 0 && referenceCount == 0 { return 1 }
        guard common > 0 else { return 0 }
        let precision = Double(common) / Double(answerCount)
        let recall = Double(common) / Double(referenceCount)
        return 2 * precision * recall / (precision + recall)
    }

    /// Two rows of the classic table: O(|a|·|b|) time, O(|b|) memory.
    package static func longestCommonSubsequence<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        guard !a.isEmpty, !b.isEmpty else { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for x in a {
            for (j, y) in b.enumerated() {
                current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Insertions, deletions and substitutions, each costing 1.
    package static func levenshtein<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = previous
        for (i, x) in a.enumerated() {
            current[0] = i + 1
            for (j, y) in b.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
