import NIOCore

/// A rollouts request encoded ahead of time, so that the work of building its body (the image's
/// data URL, JSON encoding) is done before the moment it may be sent rather than after.
public struct EncodedRolloutsRequest: Sendable {
    public let skill: Skill
    let body: ByteBuffer

    public init(_ request: RolloutsRequest) throws {
        skill = request.request.skill
        body = try MoondreamClient.jsonBody(request)
    }

    /// The encoded body's size in bytes.
    public var byteCount: Int { body.readableBytes }
}

extension MoondreamClient {
    /// `POST /tuning/rollouts` with a body encoded beforehand; otherwise as `rollouts(_:)`.
    public func rollouts(_ request: EncodedRolloutsRequest) async throws -> RolloutsResponse {
        let endpoint = "POST /tuning/rollouts"
        let response = try await send("POST", "/tuning/rollouts", body: request.body, idempotent: true)
        return try Self.parseRollouts(response.body, skill: request.skill, endpoint: endpoint)
    }
}
