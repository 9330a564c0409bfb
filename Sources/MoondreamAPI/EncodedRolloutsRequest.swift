import NIOCore

/// A rollouts request encoded ahead of time, so that the work of building its body (the image's
/// data URL, JSON encoding) is done before the moment it may be sent rather than after.
///
/// The image's data URL (hundreds of KB for a photo) is copied into the body as it is rather
/// than passed through `JSONEncoder`, whose per-character string escaping was most of the
/// client's CPU time with 300 KB images: base64 data URLs need no escaping. Anything unusual (a
/// character that would need escaping) takes the plain `JSONEncoder` path.
public struct EncodedRolloutsRequest: Sendable {
    public let skill: Skill
    let body: ByteBuffer

    public init(_ request: RolloutsRequest) throws {
        skill = request.request.skill
        body = try Self.encode(request)
    }

    /// The encoded body's size in bytes.
    public var byteCount: Int { body.readableBytes }

    /// Below this size an image URL goes through `JSONEncoder` like everything else.
    static let spliceThreshold = 4096
    /// Stands for the image URL in the encoded JSON until the real one is copied in.
    static let marker = "moontune-image-url-4f1c9e2a"

    static func encode(_ request: RolloutsRequest) throws -> ByteBuffer {
        guard let imageURL = request.request.imageURL, imageURL.utf8.count >= spliceThreshold, Self.needsNoEscaping(imageURL),
              !Self.mentionsMarker(request) else {
            return try MoondreamClient.jsonBody(request)
        }
        var stand = request
        stand.request = request.request.replacingImageURL(with: marker)
        let encoded = try RawJSON.encoding(stand).bytes
        let quoted = Array("\"\(marker)\"".utf8)
        guard let position = Self.find(quoted, in: encoded) else { return try MoondreamClient.jsonBody(request) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(encoded.count + imageURL.utf8.count)
        buffer.writeBytes(encoded[encoded.startIndex..<position])
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeString(imageURL)
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeBytes(encoded[(position + quoted.count)...])
        return buffer
    }

    /// Whether the text has no `"`, `\` or control character: JSON takes it between quotes as is.
    static func needsNoEscaping(_ text: String) -> Bool {
        if let answer = text.utf8.withContiguousStorageIfAvailable({ buffer in
            JSONPlainBytes.end(in: UnsafeRawBufferPointer(buffer), from: 0) == buffer.count
        }) {
            return answer
        }
        return !text.utf8.contains(where: JSONPlainBytes.isSpecial)
    }

    /// A request whose own text contains the marker would make the splice ambiguous.
    static func mentionsMarker(_ request: RolloutsRequest) -> Bool {
        if request.finetuneID.contains(marker) { return true }
        return switch request.request {
        case let .query(question, _, _, _, _): question.contains(marker)
        case let .point(object, _, _, _), let .detect(object, _, _): object.contains(marker)
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        while index <= haystack.endIndex - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

extension SkillRequest {
    /// The image URL this request sends, if any.
    var imageURL: String? {
        switch self {
        case let .query(_, imageURL, _, _, _): imageURL
        case let .point(_, imageURL, _, _), let .detect(_, imageURL, _): imageURL
        }
    }

    func replacingImageURL(with url: String) -> SkillRequest {
        switch self {
        case let .query(question, imageURL, reasoning, settings, spatialRefs):
            .query(question: question, imageURL: imageURL == nil ? nil : url, reasoning: reasoning, settings: settings,
                   spatialRefs: spatialRefs)
        case let .point(object, _, settings, spatialRefs):
            .point(object: object, imageURL: url, settings: settings, spatialRefs: spatialRefs)
        case let .detect(object, _, settings): .detect(object: object, imageURL: url, settings: settings)
        }
    }
}

extension MoondreamClient {
    /// `POST /tuning/rollouts` with a body encoded beforehand; otherwise as `rollouts(_:)`.
    public func rollouts(_ request: EncodedRolloutsRequest) async throws -> RolloutsResponse {
        let endpoint = "POST /tuning/rollouts"
        let response = try await send("POST", "/tuning/rollouts", body: request.body, idempotent: true)
        return try Self.parseRollouts(response.body, skill: request.skill, endpoint: endpoint)
    }
}
