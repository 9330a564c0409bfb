import Foundation

/// `notify` (issue 13): where `serve` POSTs the job's events (completed, failed, stopped, budget
/// reached, early stop), and the environment variable holding the secret that signs them
/// (HMAC-SHA256 in `X-Moontune-Signature`). The secret itself is never in the config.
public struct NotifyConfig: Sendable, Equatable {
    public var webhookURL: String
    public var secretEnv: String?

    public init(webhookURL: String, secretEnv: String? = nil) {
        self.webhookURL = webhookURL
        self.secretEnv = secretEnv
    }

    static let keys = ["webhook_url", "secret_env"]
}
