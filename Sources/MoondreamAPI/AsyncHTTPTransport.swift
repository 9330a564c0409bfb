import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

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
        // A failed connection fails the request at once, so that the client's own retry loop (which
        // reports every wait and stops on a graceful shutdown) decides, instead of the pool retrying
        // silently until the request's deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
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

    /// Maps AsyncHTTPClient, NIO and NIOSSL errors, by type, to what matters for retries: whether
    /// the request can have reached the server, and whether waiting can help. The detail is a few
    /// words a person can read in a log line ("connection refused").
    static func classify(_ error: any Error) -> TransportError {
        switch error {
        case is NIOTooManyBytesError:
            return TransportError(.responseTooLarge, "the response exceeded the size cap")
        case let error as HTTPClientError:
            return classify(error)
        case let error as NIOConnectionError:
            // Every address failed, or none was found. No connection error at all, and a failed
            // lookup, means the name does not resolve.
            return classifyConnection(dnsErrors: [error.dnsAError, error.dnsAAAAError].compactMap { $0 },
                                      attemptErrors: error.connectionErrors.map(\.error))
        case let error as SocketAddressError.UnknownHost:
            return TransportError(.unresolvable, "the host \(error.host) does not resolve")
        case let error as SocketAddressError:
            return TransportError(.unresolvable, "the host does not resolve (\(error))")
        case let error as NIOSSLError:
            return classify(error)
        case let error as NIOSSLExtraError:
            // A host name the certificate does not match, or one SNI cannot carry: a setting to fix.
            return TransportError(.tls, "the certificate does not match the host (\(error))")
        case let error as IOError:
            return classify(errno: error.errnoCode, String(describing: error))
        case let error as ChannelError:
            switch error {
            case .connectTimeout:
                return TransportError(.connect, "connect timed out")
            case .ioOnClosedChannel, .eof, .alreadyClosed, .outputClosed, .inputClosed:
                return TransportError(.connectionLost, "connection lost")
            default:
                return TransportError(.other, String(describing: error))
            }
        case is CancellationError:
            return TransportError(.connectionLost, "cancelled")
        default:
            return TransportError(.other, String(describing: error))
        }
    }

    static func classify(_ error: HTTPClientError) -> TransportError {
        switch error {
        case .connectTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout, .getConnectionFromPoolTimeout:
            return TransportError(.connect, "connect timed out")
        case .tlsHandshakeTimeout:
            return TransportError(.connect, "TLS handshake timed out")
        case .invalidURL, .emptyHost, .emptyScheme:
            return TransportError(.unresolvable, "the URL is not valid (\(error))")
        case .deadlineExceeded, .readTimeout, .writeTimeout:
            return TransportError(.timeout, "the request exceeded its deadline")
        case .remoteConnectionClosed, .cancelled, .uncleanShutdown:
            return TransportError(.connectionLost, "connection lost")
        default:
            return TransportError(.other, String(describing: error))
        }
    }

    /// TLS errors: a handshake that BoringSSL refused (a certificate that does not verify, no
    /// common protocol) or a certificate that cannot be checked is a setting to fix; the request
    /// was never sent. A handshake cut by an EOF was never sent either, but may be transient. An
    /// error on an established TLS connection may come after the request was delivered.
    static func classify(_ error: NIOSSLError) -> TransportError {
        switch error {
        case .handshakeFailed(.sslError(let stack))
            where stack.contains(.eofDuringHandshake) || stack.contains(.eofDuringAdditionalCertficiateChainValidation):
            return TransportError(.connect, "the connection closed during the TLS handshake")
        case .handshakeFailed(.sslError(let stack)):
            // BoringSSL's own words, without the source location: "...:CERTIFICATE_VERIFY_FAILED".
            let words = stack.map { $0.description.components(separatedBy: " at ").first ?? "" }.joined(separator: "; ")
            return TransportError(.tls, "the TLS handshake was refused (\(words.prefix(200)))")
        case .unableToValidateCertificate, .noCertificateToValidate, .cannotMatchULabel, .cannotFindPeerIP,
             .failedToLoadCertificate, .failedToLoadPrivateKey, .noSuchFilesystemObject:
            return TransportError(.tls, "the certificate could not be checked (\(error))")
        case .handshakeFailed:
            return TransportError(.connect, "the TLS handshake failed: \(String(describing: error).prefix(120))")
        default:
            return TransportError(.connectionLost, "TLS connection lost: \(String(describing: error).prefix(120))")
        }
    }

    /// A failed connection attempt: a name that does not resolve, or the first attempt's error.
    static func classifyConnection(dnsErrors: [any Error], attemptErrors: [any Error]) -> TransportError {
        if let first = attemptErrors.first {
            let classified = classify(first)
            // An attempt that failed in an unknown way still never carried the request.
            return classified.failure == .other ? TransportError(.connect, classified.detail) : classified
        }
        if let dns = dnsErrors.first {
            if let unknown = dns as? SocketAddressError.UnknownHost {
                return TransportError(.unresolvable, "the host \(unknown.host) does not resolve")
            }
            return TransportError(.unresolvable, "the host does not resolve (\(dns))")
        }
        return TransportError(.connect, "could not connect")
    }

    /// Socket errors by number: those that only happen before a connection exists never delivered
    /// the request. (ETIMEDOUT is not among them: an established connection can time out too.)
    static func classify(errno code: Int32, _ detail: String) -> TransportError {
        switch code {
        case ECONNREFUSED: TransportError(.connect, "connection refused")
        case ENETUNREACH: TransportError(.connect, "network unreachable")
        case EHOSTUNREACH: TransportError(.connect, "host unreachable")
        case EADDRNOTAVAIL: TransportError(.connect, "address not available")
        case ECONNRESET, EPIPE: TransportError(.connectionLost, "connection reset")
        default: TransportError(.other, detail)
        }
    }
}
