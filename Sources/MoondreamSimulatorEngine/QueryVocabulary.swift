/// The words the simulated model answers with, by kind.
package enum QueryVocabulary {
    package enum Category: Sendable, Hashable {
        case color, number, yesNo, shape, size, noun
    }

    package struct Entry: Sendable {
        package let word: String
        package let category: Category
    }

    package static let colors = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple", "pink", "brown", "gray"]
    package static let numbers = (0...20).map(String.init)
    package static let yesNo = ["yes", "no"]
    package static let shapes = ["circle", "square", "triangle", "rectangle", "star", "oval"]
    package static let sizes = ["small", "medium", "large"]
    package static let nouns = ["car", "dog", "cat", "person", "tree", "house", "table", "chair", "cup", "bottle",
                        "book", "phone", "bicycle", "bird", "flower", "window", "door", "road", "sky", "building"]

    package static let all: [Entry] =
        colors.map { Entry(word: $0, category: .color) } + numbers.map { Entry(word: $0, category: .number) }
        + yesNo.map { Entry(word: $0, category: .yesNo) } + shapes.map { Entry(word: $0, category: .shape) }
        + sizes.map { Entry(word: $0, category: .size) } + nouns.map { Entry(word: $0, category: .noun) }

    package static let stopWords: Set<String> = ["what", "which", "where", "when", "who", "how", "the", "this", "that", "there",
                                         "are", "is", "does", "do", "can", "many", "much", "image", "picture", "photo",
                                         "color", "colour", "shape", "size", "kind", "type", "and", "for", "with", "of"]

    /// Lowercased words of a question, letters and digits only.
    package static func words(of question: String) -> [String] {
        question.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// What kind of answer a question asks for, by its words.
    package static func categories(askedBy words: [String]) -> Set<Category> {
        var asked = Set<Category>()
        let set = Set(words)
        if set.contains("color") || set.contains("colour") { asked.insert(.color) }
        if set.contains("many") || set.contains("number") || set.contains("count") { asked.insert(.number) }
        if set.contains("shape") { asked.insert(.shape) }
        if set.contains("size") || set.contains("big") || set.contains("large") { asked.insert(.size) }
        if let first = words.first, ["is", "are", "does", "do", "can", "was", "were", "has", "have"].contains(first) {
            asked.insert(.yesNo)
        }
        if asked.isEmpty { asked.insert(.noun) }
        return asked
    }
}
