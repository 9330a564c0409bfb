import Foundation
import MoondreamAPI
import Logging

/// Where every line moontune shows leaves the process: each passes through the one
/// `SecretRedactor` on its way out, so no output path can carry a secret.
package struct RedactingSink: Sendable {
    package let redactor: SecretRedactor
    package let output: @Sendable (String) -> Void

    package func write(_ text: String) {
        output(redactor.redact(text))
    }

    package static func standardOutput(_ redactor: SecretRedactor) -> RedactingSink {
        RedactingSink(redactor: redactor) { FileHandle.standardOutput.write(Data($0.utf8)) }
    }

    package static func standardError(_ redactor: SecretRedactor) -> RedactingSink {
        RedactingSink(redactor: redactor) { FileHandle.standardError.write(Data($0.utf8)) }
    }
}

/// A line's fields in their order. swift-log's metadata is a dictionary; the structured lines of
/// CONTRACT.md have a fixed order (`event` first, then what it names), so a caller that cares
/// hands them over as one metadata value under `LogFields.key`.
package struct LogFields: CustomStringConvertible, Sendable {
    package static let key = "fields"
    package var fields: [(String, LogLine.Value)]
    package var description: String { LogLine(fields).render(.logfmt) }
}

/// The swift-log handler for `--log-format logfmt|json`: one line per entry, `ts`, `level` and
/// the metadata as fields (the ordered `LogFields` as given, any other metadata sorted by key,
/// the message last as `message`), written through a `RedactingSink`.
package struct StructuredLogHandler: LogHandler {
    package let format: LogFormat
    package let sink: RedactingSink
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .trace

    package init(format: LogFormat, sink: RedactingSink) {
        self.format = format
        self.sink = sink
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        sink.write(Self.render(level: level, message: message.description, metadata: self.metadata.merging(explicit ?? [:]) { $1 },
                               format: format) + "\n")
    }

    package static func render(level: Logger.Level, message: String, metadata: Logger.Metadata, format: LogFormat,
                       at date: Date = Date()) -> String {
        var fields: [(String, LogLine.Value)] = [("level", .string(levelName(level)))]
        if let job = metadata["job"] { fields.append(("job", .string(job.description))) }
        if case .stringConvertible(let ordered as LogFields) = metadata[LogFields.key] {
            fields += ordered.fields
        }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where key != "job" && key != LogFields.key {
            fields.append((key, .string(value.description)))
        }
        if !message.isEmpty { fields.append(("message", .string(message))) }
        return LogLine(fields).render(format, at: date)
    }

    /// The level words of the contract's log lines.
    package static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error: "error"
        case .critical: "critical"
        }
    }

    package static func level(named name: String) -> Logger.Level {
        switch name {
        case "warn": .warning
        case "error": .error
        default: .info
        }
    }
}
