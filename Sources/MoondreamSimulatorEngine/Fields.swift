import MoontuneJSON
/// Typed reading of request fields, each failure a 400 that names the field and what is wrong.
package struct Fields {
    package let object: [JSONMember]
    /// Where these fields sit in the body, e.g. "request" or "groups[2]", for messages.
    package let path: String

    package init(_ value: JSONValue, path: String) throws(APIFailure) {
        guard let members = value.objectMembers else {
            throw .badRequest(path.isEmpty ? "the body must be a JSON object, not \(value.kindName)" : "\(path) must be an object, not \(value.kindName)")
        }
        object = members
        self.path = path
    }

    package func name(_ field: String) -> String { path.isEmpty ? field : "\(path).\(field)" }

    /// The member's value; an explicit null counts as absent.
    package func value(_ field: String) -> JSONValue? {
        guard let found = object.last(where: { $0.key == field })?.value, !found.isNull else { return nil }
        return found
    }

    package func has(_ field: String) -> Bool { value(field) != nil }

    package func string(_ field: String) throws(APIFailure) -> String {
        guard let value = try optionalString(field) else { throw .badRequest("\(name(field)) is required") }
        return value
    }

    package func optionalString(_ field: String) throws(APIFailure) -> String? {
        guard let found = value(field) else { return nil }
        guard let text = found.stringValue else { throw .badRequest("\(name(field)) must be a string, not \(found.kindName)") }
        return text
    }

    package func nonEmptyString(_ field: String) throws(APIFailure) -> String {
        let text = try string(field)
        guard !text.trimmingWhitespace.isEmpty else { throw .badRequest("\(name(field)) must not be empty") }
        return text
    }

    package func int(_ field: String) throws(APIFailure) -> Int {
        guard let value = try optionalInt(field) else { throw .badRequest("\(name(field)) is required") }
        return value
    }

    package func optionalInt(_ field: String) throws(APIFailure) -> Int? {
        guard let found = value(field) else { return nil }
        guard let number = found.intValue else {
            throw .badRequest("\(name(field)) must be an integer, not \(found.kindName == "a number" ? "a fraction" : found.kindName)")
        }
        return number
    }

    package func optionalDouble(_ field: String) throws(APIFailure) -> Double? {
        guard let found = value(field) else { return nil }
        guard let number = found.doubleValue, number.isFinite else { throw .badRequest("\(name(field)) must be a number, not \(found.kindName)") }
        return number
    }

    package func optionalBool(_ field: String) throws(APIFailure) -> Bool? {
        guard let found = value(field) else { return nil }
        guard let flag = found.boolValue else { throw .badRequest("\(name(field)) must be a boolean, not \(found.kindName)") }
        return flag
    }

    package func array(_ field: String) throws(APIFailure) -> [JSONValue] {
        guard let found = value(field) else { throw .badRequest("\(name(field)) is required") }
        guard let elements = found.arrayValue else { throw .badRequest("\(name(field)) must be an array, not \(found.kindName)") }
        return elements
    }

    package func optionalObject(_ field: String) throws(APIFailure) -> Fields? {
        guard let found = value(field) else { return nil }
        return try Fields(found, path: name(field))
    }

    /// Refuses members not in `known`, so a misspelt field is an error rather than ignored.
    package func rejectUnknown(_ known: Set<String>) throws(APIFailure) {
        if let unknown = object.first(where: { !known.contains($0.key) }) {
            throw .badRequest("\(name(unknown.key)) is not a known field")
        }
    }
}

extension String {
    package var trimmingWhitespace: Substring {
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return Substring(scalars[start...end])
    }
}
