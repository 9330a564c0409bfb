import Foundation
@testable import MoondreamAPI
import Testing

@Suite struct EncodedRolloutsRequestTests {
    static func dataURL(_ count: Int) -> String {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        return "data:image/jpeg;base64," + String((0..<count).map { _ in alphabet[Int(random.next() % 64)] })
    }

    /// The JSON value of a body, for comparing encodings that may differ only in spelling.
    static func value(_ bytes: [UInt8]) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
    }

    static func check(_ request: RolloutsRequest) throws -> [UInt8] {
        let encoded = Array(try EncodedRolloutsRequest(request).body.readableBytesView)
        let plain = Array(try MoondreamClient.jsonBody(request).readableBytesView)
        #expect(try value(encoded) == value(plain))
        return encoded
    }

    @Test func aLargeImageIsCopiedInAndTheBodyMeansWhatJSONEncoderWrites() throws {
        let url = Self.dataURL(300_000)
        let truth = GroundTruth.points([Point(x: 0.5, y: 0.25)])
        for skillRequest in [SkillRequest.point(object: "the red \"button\"", imageURL: url, settings: nil),
                             .detect(object: "cars", imageURL: url, settings: SamplingSettings(temperature: 1, topP: 1, maxTokens: 64, maxObjects: 3)),
                             .query(question: "what is this?\nsay", imageURL: url, reasoning: true, settings: nil),
                             .point(object: "ünïcode", imageURL: url + "ü✓", settings: nil)] {
            let body = try Self.check(RolloutsRequest(finetuneID: "ft-1", numRollouts: 4, request: skillRequest,
                                                      groundTruth: skillRequest.skill == .query ? nil : truth))
            // The data URL's bytes appear once, unchanged (JSONEncoder would have spelt / as \/ or not).
            #expect(String(decoding: body, as: UTF8.self).components(separatedBy: url).count == 2)
            #expect(try EncodedRolloutsRequest.needsNoEscaping(#require(skillRequest.imageURL)))
        }
    }

    @Test func smallOrUnusualImagesAndMarkerLookalikesTakeThePlainPath() throws {
        let small = "data:image/png;base64,AAAA"
        let odd = Self.dataURL(10_000) + "\"\\\u{01}"
        let large = Self.dataURL(10_000)
        let cases = [
            RolloutsRequest(finetuneID: "f", numRollouts: 1, request: .point(object: "x", imageURL: small, settings: nil)),
            RolloutsRequest(finetuneID: "f", numRollouts: 1, request: .point(object: "x", imageURL: odd, settings: nil)),
            RolloutsRequest(finetuneID: "f", numRollouts: 1,
                            request: .point(object: "a \(EncodedRolloutsRequest.marker)", imageURL: large, settings: nil)),
            RolloutsRequest(finetuneID: EncodedRolloutsRequest.marker, numRollouts: 1,
                            request: .detect(object: "x", imageURL: large, settings: nil)),
            RolloutsRequest(finetuneID: "f", numRollouts: 2, request: .query(question: "q", imageURL: nil, reasoning: nil, settings: nil)),
        ]
        for request in cases {
            let encoded = Array(try EncodedRolloutsRequest(request).body.readableBytesView)
            #expect(encoded == Array(try MoondreamClient.jsonBody(request).readableBytesView))
        }
    }
}
