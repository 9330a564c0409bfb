import Foundation
import MoontuneReport

/// One structured log line: logfmt or JSON, with a timestamp first.
public enum LogFormat: String, CaseIterable, Sendable {
    case logfmt, json
}

public struct LogLine: Sendable {
    public enum Value: Sendable {
        case string(String)
        case int(Int)
        case double(Double)
        case bool(Bool)
    }

    public var fields: [(String, Value)]

    public init(_ fields: [(String, Value)]) {
        self.fields = fields
    }

    public func render(_ format: LogFormat, at date: Date = Date()) -> String {
        let timestamp = Self.timestamp(date)
        switch format {
        case .logfmt:
            return ([("ts", timestamp)] + fields.map { ($0.0, Self.logfmtValue($0.1)) })
                .map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        case .json:
            let body = ([("ts", Self.jsonString(timestamp))] + fields.map { ($0.0, Self.jsonValue($0.1)) })
                .map { "\(Self.jsonString($0.0)):\($0.1)" }.joined(separator: ",")
            return "{\(body)}"
        }
    }

    package static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    package static func logfmtValue(_ value: Value) -> String {
        switch value {
        case .int(let number): return String(number)
        case .double(let number): return number.isFinite ? String(format: "%.6g", number) : "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .string(let text):
            let needsQuotes = text.isEmpty || text.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.isNewline }
            guard needsQuotes else { return text }
            let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\r", with: "\\r")
            return "\"\(escaped)\""
        }
    }

    package static func jsonValue(_ value: Value) -> String {
        switch value {
        case .int(let number): return String(number)
        case .double(let number): return number.isFinite ? String(format: "%.6g", number) : "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .string(let text): return jsonString(text)
        }
    }

    package static func jsonString(_ text: String) -> String {
        ReportText.jsonString(text)
    }
}
