import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore

/// Where the API is and which environment variable holds its key. Never the key itself.
package struct APIAccess: Sendable, Equatable {
    package static let defaultBaseURL = "https://api.moondream.ai/v1"
    package static let defaultKeyVariable = "MOONDREAM_API_KEY"

    package var baseURL: String
    package var apiKeyEnv: String
    /// Where this came from, for error messages: "job kitchen-v1", "config.json", "--base-url".
    package var origin: String

    package init(baseURL: String, apiKeyEnv: String, origin: String) {
        self.baseURL = baseURL
        self.apiKeyEnv = apiKeyEnv
        self.origin = origin
    }

    /// A job's recorded API: the commands given a job NAME talk to the server the job trains on.
    package static func job(_ job: JobRecord) -> APIAccess {
        APIAccess(baseURL: job.baseURL, apiKeyEnv: job.apiKeyEnv, origin: "job \(job.name)")
    }

    /// A config file's `api` section (`config`, a path), `baseURL`, or (neither given) the public API.
    package static func standalone(config: String?, baseURL: String?) throws -> APIAccess {
        if let path = config {
            let config = try loadConfig(path)
            return APIAccess(baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv, origin: path)
        }
        return APIAccess(baseURL: baseURL ?? defaultBaseURL, apiKeyEnv: defaultKeyVariable,
                         origin: baseURL == nil ? "the default API" : "--base-url")
    }

    /// Reads a config; its problems become one failure listing each (file, line and field).
    package static func loadConfig(_ path: String) throws -> JobConfig {
        do {
            return try JobConfig.load(from: URL(fileURLWithPath: path)).config
        } catch {
            throw ManageFailure(error.problems.map(\.description).joined(separator: "\n"), exitCode: 2)
        }
    }

    /// The key from the environment. The error names the variable, never a value.
    package func apiKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKey {
        guard let key = environment[apiKeyEnv]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
            throw ManageFailure("no API key: set the environment variable \(apiKeyEnv) (named by \(origin))")
        }
        return APIKey(key)
    }

    /// A client with a bound on requests in flight. Interactive commands give up sooner than a
    /// training run: a minute of retries, then a clear error.
    package func makeClient(maxInFlight: Int = 4, retry: RetryPolicy = APIAccess.interactiveRetry,
                    environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MoondreamClient {
        MoondreamClient(configuration: ClientConfiguration(baseURL: baseURL, apiKey: try apiKey(environment: environment),
                                                           retry: retry, maxInFlight: max(1, maxInFlight)))
    }

    package static let interactiveRetry = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(300), maxDelay: .seconds(5),
                                              giveUpAfter: .seconds(60), requestTimeout: .seconds(60))

    /// The retry settings a job's config asks for (as `run` uses them).
    package static func retry(for config: JobConfig) -> RetryPolicy {
        RetryPolicy(maxAttempts: config.api.maxAttempts, maxDelay: .seconds(config.api.maxBackoffSeconds),
                    giveUpAfter: .seconds(config.api.giveUpAfterSeconds),
                    requestTimeout: .seconds(config.api.requestTimeoutSeconds))
    }
}

/// Runs `body` with a client and shuts the client down however `body` ends.
package func withClient<T>(_ client: MoondreamClient, _ body: (MoondreamClient) async throws -> T) async throws -> T {
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}
