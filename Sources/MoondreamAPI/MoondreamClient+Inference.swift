/// Inference with the base model or a saved checkpoint of a finetune.
extension MoondreamClient {
    /// `POST /query`. `model` nil uses the base model; otherwise `inferenceModel(finetuneID:step:)`.
    public func query(model: String?, imageURL: String?, question: String, reasoning: Bool? = nil,
                      settings: SamplingSettings? = nil) async throws -> String {
        struct Body: Encodable {
            var model: String?; var imageURL: String?; var question: String; var reasoning: Bool?; var settings: SamplingSettings?
            enum CodingKeys: String, CodingKey { case model, imageURL = "image_url", question, reasoning, settings }
        }
        struct Answer: Decodable { var answer: String }
        let body = Body(model: model, imageURL: imageURL, question: question, reasoning: reasoning, settings: settings)
        let response = try await send("POST", "/query", body: try Self.jsonBody(body), idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST /query").answer
    }

    /// `POST /caption`.
    public func caption(model: String?, imageURL: String, length: String? = nil) async throws -> String {
        struct Body: Encodable {
            var model: String?; var imageURL: String; var length: String?
            enum CodingKeys: String, CodingKey { case model, imageURL = "image_url", length }
        }
        struct Answer: Decodable { var caption: String }
        let response = try await send("POST", "/caption", body: try Self.jsonBody(Body(model: model, imageURL: imageURL, length: length)),
                                      idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST /caption").caption
    }

    /// `POST /point`: the points where `object` is.
    public func point(model: String?, imageURL: String, object: String) async throws -> [Point] {
        struct Answer: Decodable { var points: [Point] }
        let response = try await send("POST", "/point", body: try Self.jsonBody(LocateBody(model: model, imageURL: imageURL, object: object, settings: nil)),
                                      idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST /point").points
    }

    /// `POST /detect`: the boxes around each `object`.
    public func detect(model: String?, imageURL: String, object: String, settings: SamplingSettings? = nil) async throws -> [Box] {
        struct Answer: Decodable { var objects: [Box] }
        let response = try await send("POST", "/detect", body: try Self.jsonBody(LocateBody(model: model, imageURL: imageURL, object: object, settings: settings)),
                                      idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST /detect").objects
    }

    private struct LocateBody: Encodable {
        var model: String?; var imageURL: String; var object: String; var settings: SamplingSettings?
        enum CodingKeys: String, CodingKey { case model, imageURL = "image_url", object, settings }
    }
}
