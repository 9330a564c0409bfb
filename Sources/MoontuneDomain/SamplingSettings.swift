/// Sampling settings of a skill request. Absent fields take the server's defaults.
public struct SamplingSettings: Codable, Sendable, Hashable {
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var maxObjects: Int?

    public init(temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil, maxObjects: Int? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.maxObjects = maxObjects
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topP = "top_p", maxTokens = "max_tokens", maxObjects = "max_objects"
    }
}
