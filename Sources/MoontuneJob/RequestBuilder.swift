import MoontuneConfig
import MoontuneDataset
import MoontuneRewards
import MoondreamAPI

/// Builds the requests of an example as the config says: its skill's settings, its image as a
/// data URL, its `spatial_refs`, its ground truth when the server computes rewards, and for SFT
/// steps the target built from its ground truth.
public struct RequestBuilder: Sendable {
    public let config: JobConfig
    public let cache: ImageCache

    public init(config: JobConfig, cache: ImageCache) {
        self.config = config
        self.cache = cache
    }

    /// The `request` part: `temperature` overrides the configured one (eval uses 0).
    ///
    /// Settings go as both the reference and the live service accept them: `max_tokens` with
    /// query only and `max_objects` with detect only, unless the skill's own settings
    /// (`train.settings.point`, `.detect`, `.query`) set them.
    public func skillRequest(for example: Example, temperature: Double? = nil) throws(DatasetError) -> SkillRequest {
        var settings = config.train.settings(for: example.skill)
        if let temperature { settings.temperature = temperature }
        let imageURL = try example.image.map { url throws(DatasetError) in try cache.dataURL(for: url) }
        switch example.skill {
        case .query:
            return .query(question: example.question ?? "", imageURL: imageURL, reasoning: config.train.reasoning,
                          settings: settings, spatialRefs: example.spatialRefs)
        case .point, .detect:
            guard let imageURL, let object = example.object else {
                throw DatasetError(Problem(file: config.data.train.lastPathComponent, line: example.line, field: "image",
                                           message: "\(example.skill.rawValue) needs an image and an object"))
            }
            return example.skill == .point
                ? .point(object: object, imageURL: imageURL, settings: settings, spatialRefs: example.spatialRefs)
                : .detect(object: object, imageURL: imageURL, settings: settings)
        }
    }

    /// The whole `POST /tuning/rollouts` body. Ground truth goes with point and detect requests
    /// only when `reward.source` is `server`; never with query (the API takes none).
    public func rolloutsRequest(for example: Example, finetuneID: String, numRollouts: Int,
                                temperature: Double? = nil) throws(DatasetError) -> RolloutsRequest {
        let request = try skillRequest(for: example, temperature: temperature)
        let sendTruth = config.reward.source == .server && example.skill != .query
        return RolloutsRequest(finetuneID: finetuneID, numRollouts: numRollouts, request: request,
                               groundTruth: sendTruth ? example.groundTruth : nil)
    }

    /// The SFT group of an example: `{"mode": "sft", "request", "target"}`, the request without
    /// settings and the target from the ground truth — point: its points or boxes; detect: its
    /// boxes; query: its first accepted answer.
    public func sftGroup(for example: Example) throws(DatasetError) -> TrainGroup {
        let request = try skillRequest(for: example).withoutSettings
        let target: SFTTarget
        switch (example.skill, example.groundTruth) {
        case (.query, _):
            guard let answer = example.answers.first else { throw missingTarget(example, field: "answer") }
            target = .answer(answer)
        case (.point, .points(let points)?): target = .points(points)
        case (.point, .boxes(let boxes)?), (.detect, .boxes(let boxes)?): target = .boxes(boxes)
        default: throw missingTarget(example, field: "ground_truth")
        }
        do {
            return .sft(request: try RawJSON.encoding(request), target: try RawJSON.encoding(target))
        } catch {
            throw DatasetError(Problem(file: config.data.train.lastPathComponent, line: example.line, field: "",
                                       message: "could not encode the SFT group: \(error)"))
        }
    }

    private func missingTarget(_ example: Example, field: String) -> DatasetError {
        DatasetError(Problem(file: config.data.train.lastPathComponent, line: example.line, field: field,
                             message: "an SFT step needs the example's \(field) as its target"))
    }
}

/// The `target` of an SFT group, by skill.
package enum SFTTarget: Encodable {
    case answer(String)
    case points([Point])
    case boxes([Box])

    package enum CodingKeys: String, CodingKey { case answer, points, boxes }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .answer(let answer): try container.encode(answer, forKey: .answer)
        case .points(let points): try container.encode(points, forKey: .points)
        case .boxes(let boxes): try container.encode(boxes, forKey: .boxes)
        }
    }
}
