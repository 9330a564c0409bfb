import Foundation
import MoondreamAPI
import Logging

/// Where every line moontune shows leaves the process: each passes through the one
/// `SecretRedactor` on its way out, so no output path can carry a secret.
struct RedactingSink: Sendable {
    let redactor: SecretRedactor
    let output: @Sendable (String) -> Void

    func write(_ text: String) {
        output(redactor.redact(text))
    }

    static func standardOutput(_ redactor: SecretRedactor) -> RedactingSink {
        RedactingSink(redactor: redactor) { FileHandle.standardOutput.write(Data($0.utf8)) }
    }

    static func standardError(_ redactor: SecretRedactor) -> RedactingSink {
        RedactingSink(redactor: redactor) { FileHandle.standardError.write(Data($0.utf8)) }
    }
}

/// A line's fields in their order. swift-log's metadata is a dictionary; the structured lines of
/// CONTRACT.md have a fixed order (`event` first, then what it names), so a caller that cares
/// hands them over as one metadata value under `LogFields.key`.
struct LogFields: CustomStringConvertible, Sendable {
    static let key = "fields"
    var fields: [(String, LogLine.Value)]
    var description: String { LogLine(fields).render(.logfmt) }
}

/// The swift-log handler for `--log-format logfmt|json`: one line per entry, `ts`, `level` and
/// the metadata as fields (the ordered `LogFields` as given, any other metadata sorted by key,
/// the message last as `message`), written through a `RedactingSink`.
struct StructuredLogHandler: LogHandler {
    let format: LogFormat
    let sink: RedactingSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(format: LogFormat, sink: RedactingSink) {
        self.format = format
        self.sink = sink
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
             source: String, file: String, function: String, line: UInt) {
        sink.write(Self.render(level: level, message: message.description, metadata: self.metadata.merging(explicit ?? [:]) { $1 },
                               format: format) + "\n")
    }

    static func render(level: Logger.Level, message: String, metadata: Logger.Metadata, format: LogFormat,
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
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info, .notice: "info"
        case .warning: "warn"
        case .error: "error"
        case .critical: "critical"
        }
    }

    static func level(named name: String) -> Logger.Level {
        switch name {
        case "warn": .warning
        case "error": .error
        default: .info
        }
    }
}
