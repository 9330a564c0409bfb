import ArgumentParser
import Foundation
import MoondreamAPI
import MoontuneJob
import MoontuneStore

/// `--config CONFIG` or `--base-url URL`: how a command that is given no job reaches the API.
struct APIOptions: ParsableArguments {
    @Option(help: "Use this job config's api section (base_url, api_key_env).")
    var config: String?

    @Option(name: .customLong("base-url"),
            help: "The API root, for example https://api.moondream.ai/v1 (key from MOONDREAM_API_KEY).")
    var baseURL: String?

    func validate() throws {
        if config != nil && baseURL != nil {
            throw ValidationError("give --config or --base-url, not both")
        }
    }
}

/// Where the API is and which environment variable holds its key. Never the key itself.
struct APIAccess: Sendable, Equatable {
    static let defaultBaseURL = "https://api.moondream.ai/v1"
    static let defaultKeyVariable = "MOONDREAM_API_KEY"

    var baseURL: String
    var apiKeyEnv: String
    /// Where this came from, for error messages: "job kitchen-v1", "config.json", "--base-url".
    var origin: String

    /// A job's recorded API: the commands given a job NAME talk to the server the job trains on.
    static func job(_ job: JobRecord) -> APIAccess {
        APIAccess(baseURL: job.baseURL, apiKeyEnv: job.apiKeyEnv, origin: "job \(job.name)")
    }

    /// A config file's `api` section, `--base-url`, or (neither given) the public API.
    static func standalone(_ options: APIOptions) throws -> APIAccess {
        if let path = options.config {
            let config = try loadConfig(path)
            return APIAccess(baseURL: config.api.baseURL, apiKeyEnv: config.api.apiKeyEnv, origin: path)
        }
        return APIAccess(baseURL: options.baseURL ?? defaultBaseURL, apiKeyEnv: defaultKeyVariable,
                         origin: options.baseURL == nil ? "the default API" : "--base-url")
    }

    /// Reads a config; its problems become one failure listing each (file, line and field).
    static func loadConfig(_ path: String) throws -> JobConfig {
        do {
            return try JobConfig.load(from: URL(fileURLWithPath: path)).config
        } catch {
            throw CommandFailure(error.problems.map(\.description).joined(separator: "\n"), exitCode: 2)
        }
    }

    /// The key from the environment. The error names the variable, never a value.
    func apiKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKey {
        guard let key = environment[apiKeyEnv]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
            throw CommandFailure("no API key: set the environment variable \(apiKeyEnv) (named by \(origin))")
        }
        return APIKey(key)
    }

    /// A client with a bound on requests in flight. Interactive commands give up sooner than a
    /// training run: a minute of retries, then a clear error.
    func makeClient(maxInFlight: Int = 4, retry: RetryPolicy = APIAccess.interactiveRetry,
                    environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MoondreamClient {
        MoondreamClient(configuration: ClientConfiguration(baseURL: baseURL, apiKey: try apiKey(environment: environment),
                                                           retry: retry, maxInFlight: max(1, maxInFlight)))
    }

    static let interactiveRetry = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(300), maxDelay: .seconds(5),
                                              giveUpAfter: .seconds(60), requestTimeout: .seconds(60))

    /// The retry settings a job's config asks for (as `run` uses them).
    static func retry(for config: JobConfig) -> RetryPolicy {
        RetryPolicy(maxAttempts: config.api.maxAttempts, maxDelay: .seconds(config.api.maxBackoffSeconds),
                    giveUpAfter: .seconds(config.api.giveUpAfterSeconds),
                    requestTimeout: .seconds(config.api.requestTimeoutSeconds))
    }
}

/// Runs `body` with a client and shuts the client down however `body` ends.
func withClient<T>(_ client: MoondreamClient, _ body: (MoondreamClient) async throws -> T) async throws -> T {
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}
