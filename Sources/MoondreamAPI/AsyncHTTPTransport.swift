import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The live transport: AsyncHTTPClient with a keep-alive connection pool sized to the job's
/// concurrency, a deadline on every request and a cap on every response body.
public final class AsyncHTTPTransport: HTTPTransport {
    private let client: HTTPClient

    /// - Parameter maxConnections: the pool's connections per host; follow the concurrency bound.
    public init(maxConnections: Int, connectTimeout: Duration = .seconds(10)) {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60),
                                             concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, maxConnections))
        configuration.timeout = .init(connect: .init(connectTimeout))
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func execute(_ spec: HTTPRequestSpec) async throws(TransportError) -> HTTPResponseSpec {
        var request = HTTPClientRequest(url: spec.url)
        request.method = HTTPMethod(rawValue: spec.method)
        for (name, value) in spec.headers {
            request.headers.add(name: name, value: value)
        }
        if let body = spec.body {
            request.body = .bytes(body)
        }
        do {
            let response = try await client.execute(request, deadline: .now() + .init(spec.timeout))
            let buffer = try await response.body.collect(upTo: spec.maxResponseBytes)
            return HTTPResponseSpec(status: Int(response.status.code),
                                    headers: response.headers.map { ($0.name, $0.value) },
                                    body: Array(buffer.readableBytesView))
        } catch {
            throw Self.classify(error)
        }
    }

    public func shutdown() async {
        try? await client.shutdown()
    }

    /// Maps AsyncHTTPClient and NIO errors to what matters for retries: whether the request can
    /// have reached the server.
    static func classify(_ error: any Error) -> TransportError {
        if error is NIOTooManyBytesError {
            return TransportError(.responseTooLarge, "the response exceeded the size cap")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout, .tlsHandshakeTimeout,
                 .getConnectionFromPoolTimeout, .invalidURL, .emptyHost, .emptyScheme:
                return TransportError(.connect, String(describing: error))
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return TransportError(.timeout, "the request exceeded its deadline")
            case .remoteConnectionClosed, .cancelled, .uncleanShutdown:
                return TransportError(.connectionLost, String(describing: error))
            default:
                return TransportError(.other, String(describing: error))
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL:
                return TransportError(.connect, String(describing: error))
            case ECONNRESET, EPIPE:
                return TransportError(.connectionLost, String(describing: error))
            default:
                return TransportError(.other, String(describing: error))
            }
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout:
                return TransportError(.connect, String(describing: error))
            case .ioOnClosedChannel, .eof, .alreadyClosed, .outputClosed, .inputClosed:
                return TransportError(.connectionLost, String(describing: error))
            default:
                return TransportError(.other, String(describing: error))
            }
        }
        // NIOPosix's NIOConnectionError (every address failed to connect) is matched by name so
        // this module needs no NIOPosix import.
        let typeName = String(describing: type(of: error))
        if typeName.contains("NIOConnectionError") || typeName.contains("SingleConnectionFailure") {
            return TransportError(.connect, String(describing: error))
        }
        if error is CancellationError {
            return TransportError(.connectionLost, "cancelled")
        }
        return TransportError(.other, String(describing: error))
    }
}
