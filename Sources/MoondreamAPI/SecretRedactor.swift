import Foundation

/// The one redaction of moontune: the client masks its key in server messages with it, and every
/// line the CLI writes (console, logs, stderr) passes through it.
///
/// Keeps secrets out of everything moontune shows or writes: each occurrence of a secret in a
/// line is replaced before the line leaves the process.
///
/// The loop never puts the API key in a message on purpose; this is the net under that rule, for
/// text moontune does not control (a server's error message echoing a header, an exception).
public struct SecretRedactor: Sendable {
    public static let mask = "[redacted]"
    /// Longest first, so that a secret containing another is masked whole.
    public let secrets: [String]

    /// Secrets shorter than `minimumLength` (8) are ignored: masking them would mangle ordinary
    /// words. The client, which knows its key is one, masks it whatever its length.
    public init(secrets: [String], minimumLength: Int = 8) {
        self.secrets = Set(secrets.filter { !$0.isEmpty && $0.count >= minimumLength }).sorted { $0.count > $1.count }
    }

    public func redact(_ text: String) -> String {
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: Self.mask)
        }
        return text
    }

    /// The values of the environment variables that hold credentials: `MOONDREAM_API_KEY`, and
    /// any variable whose name says key, token, secret or password (a config may name its own
    /// `api_key_env`).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SecretRedactor {
        let markers = ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        let values = environment.compactMap { name, value -> String? in
            let upper = name.uppercased()
            return markers.contains { upper.contains($0) } ? value : nil
        }
        return SecretRedactor(secrets: values)
    }
}
