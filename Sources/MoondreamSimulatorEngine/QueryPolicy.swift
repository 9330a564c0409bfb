/// A key's question-answering policy: logits over a small vocabulary plus the question's own
/// words. The base logits come from (seed, key, word), with a bonus for the words a question
/// asks for ("what color" → colours), as a pretrained model would know. Training adds deltas by
/// the policy-gradient of a softmax.
package struct QueryPolicy: Sendable, Equatable {
    /// Learned changes to the base logits, by word.
    package var deltas: [String: Double] = [:]
    /// Answers taught by SFT that are not among the key's candidates, in the order learned
    /// (lowercased, as `phrase` expects). Each starts at `extraBaseLogit`.
    package var extras: [String] = []

    package static let learningGain = 4.0
    /// The base logit of an SFT-taught answer: unlikely until taught.
    package static let extraBaseLogit = -3.0

    /// The candidate answers and base logits of one key, in a fixed order.
    package struct Candidates: Sendable {
        package var words: [String]
        package var baseLogits: [Double]
    }

    package static func candidates(question: String, seed: UInt64, key: UInt64) -> Candidates {
        let questionWords = QueryVocabulary.words(of: question)
        let asked = QueryVocabulary.categories(askedBy: questionWords)
        var words = QueryVocabulary.all.map(\.word)
        var categories = QueryVocabulary.all.map(\.category)
        var seen = Set(words)
        for word in questionWords where word.count >= 3 && !QueryVocabulary.stopWords.contains(word) && !seen.contains(word) {
            seen.insert(word)
            words.append(word)
            categories.append(.noun)
        }
        let logits = zip(words, categories).map { word, category in
            var random = SimRandom(seed: seed ^ key, stream: FNV1a.hash(word))
            return random.gaussian() + (asked.contains(category) ? 2.5 : 0)
        }
        return Candidates(words: words, baseLogits: logits)
    }

    /// `candidates` with this policy's SFT-taught answers appended (those not already there).
    package func withExtras(_ candidates: Candidates) -> Candidates {
        var result = candidates
        var known = Set(candidates.words.map(Self.word(fromAnswer:)))
        for extra in extras where known.insert(Self.word(fromAnswer: extra)).inserted {
            result.words.append(extra)
            result.baseLogits.append(Self.extraBaseLogit)
        }
        return result
    }

    /// Each candidate's position by its normalized form (`word(fromAnswer:)`), first one winning.
    package static func index(_ candidates: Candidates) -> [String: Int] {
        Dictionary(candidates.words.enumerated().map { (word(fromAnswer: $1), $0) }, uniquingKeysWith: { first, _ in first })
    }

    package func logits(_ candidates: Candidates) -> [Double] {
        zip(candidates.words, candidates.baseLogits).map { $1 + (deltas[$0] ?? 0) }
    }

    package func sample(_ candidates: Candidates, settings: SamplingParameters, random: inout SimRandom) -> (word: String, logprob: Double) {
        let values = logits(candidates)
        guard settings.temperature > 0 else {
            var best = 0
            for index in values.indices where values[index] > values[best] { best = index }
            return (candidates.words[best], 0)
        }
        let probabilities = Self.softmax(values.map { $0 / settings.temperature })
        // Nucleus: the most likely words up to top_p of the mass.
        let order = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }
        var kept: [Int] = [], mass = 0.0
        for index in order {
            kept.append(index)
            mass += probabilities[index]
            if mass >= settings.topP { break }
        }
        var draw = random.unit() * mass
        for index in kept {
            draw -= probabilities[index]
            if draw <= 0 { return (candidates.words[index], log(probabilities[index] / mass)) }
        }
        let last = kept[kept.count - 1]
        return (candidates.words[last], log(probabilities[last] / mass))
    }

    /// One update: `answers[i]` the word of rollout i (nil if it is not a candidate).
    package mutating func learn(_ candidates: Candidates, answers: [String?], weights: [Double], step: Double) {
        let probabilities = Self.softmax(logits(candidates))
        var change = [Double](repeating: 0, count: candidates.words.count)
        let indexOf = Self.index(candidates)
        for (rollout, answer) in answers.enumerated() {
            guard let answer, let chosen = indexOf[answer] else { continue }
            for index in change.indices {
                change[index] += weights[rollout] * ((index == chosen ? 1 : 0) - probabilities[index])
            }
        }
        for (index, word) in candidates.words.enumerated() where change[index] != 0 {
            deltas[word, default: 0] += Self.learningGain * step * change[index]
        }
    }

    /// The display form of an SFT answer: lowercased, trimmed, without final punctuation.
    package static func taughtForm(_ answer: String) -> String {
        var text = String(answer.trimmingWhitespace).lowercased()
        while let last = text.last, ".!?".contains(last) { text.removeLast() }
        return text
    }

    /// `candidates` (already with extras) plus `target` if it is not one of them, and its index.
    package func including(_ target: String, in candidates: Candidates) -> (Candidates, Int) {
        let norm = Self.word(fromAnswer: target)
        if let found = Self.index(candidates)[norm] { return (candidates, found) }
        var grown = candidates
        grown.words.append(Self.taughtForm(target))
        grown.baseLogits.append(Self.extraBaseLogit)
        return (grown, grown.words.count - 1)
    }

    /// Cross-entropy of `target` under the policy, before it learns it.
    package func targetLoss(_ candidates: Candidates, target: String) -> Double {
        let (all, index) = including(target, in: withExtras(candidates))
        return -log(max(Self.softmax(logits(all))[index], 1e-300))
    }

    /// One SFT update: the gradient of the cross-entropy of `target`, at the RL gain.
    package mutating func learnTarget(_ candidates: Candidates, target: String, step: Double) {
        let (all, index) = including(target, in: withExtras(candidates))
        if index >= withExtras(candidates).words.count { extras.append(all.words[index]) }
        let probabilities = Self.softmax(logits(all))
        for (position, word) in all.words.enumerated() {
            deltas[word, default: 0] += Self.learningGain * step * ((position == index ? 1 : 0) - probabilities[position])
        }
    }

    /// KL(self ‖ other) over the candidates (with both policies' taught answers).
    package func divergence(from other: QueryPolicy, _ candidates: Candidates) -> Double {
        let all = other.withExtras(withExtras(candidates))
        let p = Self.softmax(logits(all)), q = Self.softmax(other.logits(all))
        return zip(p, q).reduce(0) { total, pair in pair.0 > 0 ? total + pair.0 * log(pair.0 / max(pair.1, 1e-300)) : total }
    }

    package static func softmax(_ values: [Double]) -> [Double] {
        guard let top = values.max() else { return [] }
        let exps = values.map { exp($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// The answer as a model would say it: "Red." at temperature 0, sometimes "red" when sampling.
    package static func phrase(_ word: String, plain: Bool) -> String {
        plain ? word : word.prefix(1).uppercased() + word.dropFirst() + "."
    }

    /// The vocabulary word an answer text stands for.
    package static func word(fromAnswer answer: String) -> String {
        String(answer.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || ("0"..."9").contains($0) })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
