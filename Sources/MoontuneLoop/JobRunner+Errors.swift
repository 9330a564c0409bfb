import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore

extension JobRunner {
    /// One clear line that says what went wrong and what to do about it.
    static func explain(_ error: any Error, config: JobConfig) -> String {
        switch error {
        case let error as APIError:
            switch error.kind {
            case .unauthorized:
                return "\(error). The API key in $\(config.api.apiKeyEnv) was refused: check it, then run again."
            case .notFound where error.endpoint.contains("/finetunes/") || error.endpoint.hasSuffix("/rollouts")
                || error.endpoint.hasSuffix("/train_step"):
                return "\(error). The finetune of job \(config.name) no longer exists on the server (deleted?). "
                    + "Start a new job under another name."
            case .conflict:
                return "\(error). A finetune named \(config.name) already exists with another rank: change the job's "
                    + "name or its rank (\(config.rank))."
            case .transport(.responseTooLarge):
                return "\(error). The answer was larger than api.max_response_bytes (\(config.api.maxResponseBytes) bytes); "
                    + "raise it if the server is right to send that much."
            case .transport(.unresolvable):
                return "\(error). Check api.base_url (\(config.api.baseURL)) in \(config.sourceURL.lastPathComponent): "
                    + "fix the host name; waiting cannot help."
            case .transport(.tls):
                return "\(error). Check api.base_url (\(config.api.baseURL)) in \(config.sourceURL.lastPathComponent): "
                    + "the TLS connection failed (is the certificate valid for that host?); waiting cannot help."
            case .transport(.connect):
                return "\(error). Nothing answered at api.base_url (\(config.api.baseURL)) until the give-up time "
                    + "(api.give_up_after_s = \(Int(config.api.giveUpAfterSeconds)) s): check the URL, or run again "
                    + "to resume once the API is back."
            case .server, .rateLimited, .transport:
                return "\(error). The server kept failing past the give-up time (api.give_up_after_s = "
                    + "\(Int(config.api.giveUpAfterSeconds)) s); run again to resume once it is back."
            default:
                return error.description
            }
        case let error as JobFailure:
            return error.message
        case let error as StoreError:
            return "state database: \(error). The job stopped without a half-recorded step; fix the problem and run again."
        default:
            return String(describing: error)
        }
    }
}
