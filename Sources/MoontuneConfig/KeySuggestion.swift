import MoontuneJSON

/// "Did you mean" for unknown keys: near misses by edit distance, spelling variants
/// (`groupsPerStep`, `groups-per-step`) and common names from other tools (`learning_rate`).
package enum KeySuggestion {
    /// The known key that `unknown` most likely meant, if any is close enough.
    package static func suggest(_ unknown: String, known: [String], aliases: [String: String] = [:]) -> String? {
        let folded = fold(unknown)
        // Exact matches after folding case and separators, for keys and aliases alike.
        if let key = known.first(where: { fold($0) == folded }) { return key }
        if let target = aliases.first(where: { fold($0.key) == folded })?.value { return target }

        let limit = max(1, min(3, folded.count / 3))
        var best: (key: String, distance: Int)?
        let candidates = known.map { (name: $0, target: $0) } + aliases.map { (name: $0.key, target: $0.value) }
        for candidate in candidates {
            let distance = editDistance(folded, fold(candidate.name))
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate.target, distance)
            }
        }
        return best?.key
    }

    /// Lowercased, without `_` and `-`.
    package static func fold(_ key: String) -> String {
        String(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Edit distance over characters where swapping two neighbours counts as one edit, like an
    /// insertion or a deletion (optimal string alignment): `qeury` is one edit from `query`.
    package static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var beforePrevious = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], beforePrevious[j - 2] + 1)
                }
            }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[b.count]
    }
}
