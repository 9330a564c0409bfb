import Foundation

/// What `moontune serve` is asked to do.
public struct ServeOptions: Sendable {
    public var databasePath: String
    public var host: String
    public var port: Int
    /// Requests in flight across every job, at most.
    public var maxInFlight: Int
    /// Jobs running at once, at most.
    public var maxJobs: Int
    /// The bearer token every request but `/healthz` must carry (`MOONTUNE_SERVE_TOKEN`);
    /// required on any address other than loopback.
    public var token: String?
    /// A webhook for every job (`serve --webhook-url`), besides each job's `notify.webhook_url`.
    public var webhookURL: String?
    /// How often the queue and the stop requests are read.
    public var pollInterval: Duration
    public var environment: [String: String]

    public init(databasePath: String, host: String = "127.0.0.1", port: Int = 8470, maxInFlight: Int = 32, maxJobs: Int = 4,
                token: String? = nil, webhookURL: String? = nil, pollInterval: Duration = .milliseconds(500),
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.databasePath = databasePath
        self.host = host
        self.port = port
        self.maxInFlight = maxInFlight
        self.maxJobs = maxJobs
        self.token = token
        self.webhookURL = webhookURL
        self.pollInterval = pollInterval
        self.environment = environment
    }

    /// Whether `host` is a loopback address (where no token is needed).
    public static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Why `serve` did not start.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
