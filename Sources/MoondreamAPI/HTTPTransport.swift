import NIOCore

/// One HTTP exchange as the client sees it. The body is encoded once; retries reuse the buffer.
public struct HTTPRequestSpec: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: ByteBuffer?
    /// The deadline of this attempt, from sending to the last byte of the answer.
    public var timeout: Duration
    /// Answers longer than this fail with `TransportFailure.responseTooLarge`.
    public var maxResponseBytes: Int

    public init(method: String, url: String, headers: [(String, String)], body: ByteBuffer?,
                timeout: Duration, maxResponseBytes: Int) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// The answer to an `HTTPRequestSpec`.
public struct HTTPResponseSpec: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A request that got no HTTP answer.
public struct TransportError: Error, Sendable {
    public var failure: TransportFailure
    public var detail: String

    public init(_ failure: TransportFailure, _ detail: String) {
        self.failure = failure
        self.detail = detail
    }
}

/// The seam below the client: the live implementation is AsyncHTTPClient; tests use fakes that
/// script answers and failures without sockets.
public protocol HTTPTransport: Sendable {
    func execute(_ request: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec
    /// Releases connections. Called once when the client is done.
    func shutdown() async
}
