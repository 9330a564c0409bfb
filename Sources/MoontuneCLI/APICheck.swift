import Foundation
import MoondreamAPI
import MoontuneJob

/// `validate --check-api`: one cheap authenticated call (`GET /tuning/finetunes?limit=1`) that
/// says whether the API at `api.base_url` answers and accepts the key, in words that name the
/// setting to fix. Never prints the key. Retries at most once, with a short deadline.
enum APICheck {
    struct Result: Sendable, Equatable {
        var ok: Bool
        var message: String
    }

    static let retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(300), maxDelay: .seconds(1),
                                   giveUpAfter: .seconds(5), requestTimeout: .seconds(10))

    static func run(_ api: APIConfig, environment: [String: String],
                    transport: (any HTTPTransport)? = nil) async -> Result {
        let url = api.baseURL
        let variable = api.apiKeyEnv
        guard let key = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
            return Result(ok: false, message: "api: no API key: set the environment variable \(variable) (api.api_key_env)")
        }
        let client = MoondreamClient(configuration: ClientConfiguration(baseURL: url, apiKey: APIKey(key), retry: retry,
                                                                        maxInFlight: 1),
                                     transport: transport)
        do {
            _ = try await client.listFinetunes(limit: 1)
            await client.shutdown()
            return Result(ok: true, message: "ok: the API at \(url) answers; the key in $\(variable) is accepted")
        } catch let error as APIError {
            await client.shutdown()
            return Result(ok: false, message: describe(error, url: url, variable: variable))
        } catch {
            await client.shutdown()
            return Result(ok: false, message: "api: the check of \(url) failed: \(error)")
        }
    }

    static func describe(_ error: APIError, url: String, variable: String) -> String {
        switch error.kind {
        case .unauthorized:
            return "api: the API at \(url) answers, but refused the key in $\(variable) (HTTP \(error.status ?? 401)): "
                + "check the key, or api.api_key_env"
        case .transport(.unresolvable):
            return "api.base_url: the host of \(url) does not resolve (\(error.message)); fix api.base_url"
        case .transport(.tls):
            return "api.base_url: TLS to \(url) failed (\(error.message)); fix api.base_url or the server's certificate"
        case .transport(.connect):
            return "api.base_url: nothing answers at \(url) (\(error.message)); check api.base_url, or whether the API is up"
        case .transport:
            return "api.base_url: \(url) did not answer properly (\(error.waitReason))"
        case .notFound:
            return "api.base_url: \(url) answers, but has no /tuning/finetunes (HTTP 404): is it the API root, ending in /v1?"
        default:
            return "api: the API at \(url) answered \(error)"
        }
    }
}
