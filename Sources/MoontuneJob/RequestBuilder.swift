import MoondreamAPI

/// Builds the rollouts request of an example as the config says: its skill's settings, its
/// image as a data URL, and its ground truth when the server computes rewards.
public struct RequestBuilder: Sendable {
    public let config: JobConfig
    public let cache: ImageCache

    public init(config: JobConfig, cache: ImageCache) {
        self.config = config
        self.cache = cache
    }

    /// The `request` part: `temperature` overrides the configured one (eval uses 0).
    public func skillRequest(for example: Example, temperature: Double? = nil) throws(DatasetError) -> SkillRequest {
        var settings = config.train.settings
        if let temperature { settings.temperature = temperature }
        if example.skill != .detect { settings.maxObjects = nil }
        let imageURL = try example.image.map { url throws(DatasetError) in try cache.dataURL(for: url) }
        switch example.skill {
        case .query:
            return .query(question: example.question ?? "", imageURL: imageURL, reasoning: config.train.reasoning,
                          settings: settings)
        case .point, .detect:
            guard let imageURL, let object = example.object else {
                throw DatasetError(Problem(file: config.data.train.lastPathComponent, line: example.line, field: "image",
                                           message: "\(example.skill.rawValue) needs an image and an object"))
            }
            return example.skill == .point
                ? .point(object: object, imageURL: imageURL, settings: settings)
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
}
