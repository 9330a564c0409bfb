import Testing
@testable import MoondreamSimulator
@testable import MoondreamSimulatorEngine

/// One request that must be refused with 400, and a word the message must contain.
struct BadRequestCase: Sendable, CustomTestStringConvertible {
    let label: String
    let path: String
    /// The body; "$FT" is replaced by a live finetune id.
    let body: String
    let mentions: String
    var testDescription: String { label }
}

let image = imageURL("x")

let badRequests: [BadRequestCase] = [
    .init(label: "malformed JSON", path: "/v1/tuning/finetunes", body: #"{"name": "a", "rank": 8"#, mentions: "JSON"),
    .init(label: "body not an object", path: "/v1/tuning/finetunes", body: "[1]", mentions: "object"),
    .init(label: "name missing", path: "/v1/tuning/finetunes", body: #"{"rank": 8}"#, mentions: "name"),
    .init(label: "name wrong type", path: "/v1/tuning/finetunes", body: #"{"name": 5, "rank": 8}"#, mentions: "name"),
    .init(label: "name with a space", path: "/v1/tuning/finetunes", body: #"{"name": "a b", "rank": 8}"#, mentions: "name"),
    .init(label: "name too long", path: "/v1/tuning/finetunes", body: "{\"name\": \"\(String(repeating: "a", count: 129))\", \"rank\": 8}", mentions: "name"),
    .init(label: "rank not allowed", path: "/v1/tuning/finetunes", body: #"{"name": "a", "rank": 12}"#, mentions: "rank"),
    .init(label: "rank a string", path: "/v1/tuning/finetunes", body: #"{"name": "a", "rank": "8"}"#, mentions: "rank"),
    .init(label: "num_rollouts 0", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 0, "request": {"skill": "point", "object": "a", "image_url": "IMG"}}"#, mentions: "num_rollouts"),
    .init(label: "num_rollouts 17", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 17, "request": {"skill": "point", "object": "a", "image_url": "IMG"}}"#, mentions: "num_rollouts"),
    .init(label: "unknown skill", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "segment", "object": "a", "image_url": "IMG"}}"#, mentions: "skill"),
    .init(label: "request missing", path: "/v1/tuning/rollouts", body: #"{"finetune_id": "$FT", "num_rollouts": 2}"#, mentions: "request"),
    .init(label: "object missing", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "point", "image_url": "IMG"}}"#, mentions: "object"),
    .init(label: "image_url missing for point", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "point", "object": "a"}}"#, mentions: "image_url"),
    .init(label: "image_url not a data URL", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "detect", "object": "a", "image_url": "http://x/y.png"}}"#, mentions: "image_url"),
    .init(label: "question missing", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "query"}}"#, mentions: "question"),
    .init(label: "ground_truth on a query", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "query", "question": "q?"}, "ground_truth": {"points": [{"x": 0.1, "y": 0.1}]}}"#, mentions: "query"),
    .init(label: "coordinate above 1", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "point", "object": "a", "image_url": "IMG"}, "ground_truth": {"points": [{"x": 1.2, "y": 0.1}]}}"#, mentions: "between 0 and 1"),
    .init(label: "coordinate below 0", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "detect", "object": "a", "image_url": "IMG"}, "ground_truth": {"boxes": [{"x_min": -0.1, "y_min": 0, "x_max": 0.5, "y_max": 0.5}]}}"#, mentions: "between 0 and 1"),
    .init(label: "x_min above x_max", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "detect", "object": "a", "image_url": "IMG"}, "ground_truth": {"boxes": [{"x_min": 0.6, "y_min": 0, "x_max": 0.5, "y_max": 0.5}]}}"#, mentions: "x_min"),
    .init(label: "temperature wrong type", path: "/v1/tuning/rollouts",
          body: #"{"finetune_id": "$FT", "num_rollouts": 2, "request": {"skill": "point", "object": "a", "image_url": "IMG", "settings": {"temperature": "hot"}}}"#, mentions: "temperature"),
    .init(label: "empty groups", path: "/v1/tuning/train_step", body: #"{"finetune_id": "$FT", "groups": []}"#, mentions: "groups"),
    .init(label: "groups missing", path: "/v1/tuning/train_step", body: #"{"finetune_id": "$FT"}"#, mentions: "groups"),
    .init(label: "rewards count differs", path: "/v1/tuning/train_step",
          body: #"{"finetune_id": "$FT", "groups": [{"request": {"skill": "point", "object": "a", "image_url": "IMG"}, "rollouts": [{}], "rewards": [1, 0]}]}"#, mentions: "rewards"),
    .init(label: "empty rollouts", path: "/v1/tuning/train_step",
          body: #"{"finetune_id": "$FT", "groups": [{"request": {"skill": "point", "object": "a", "image_url": "IMG"}, "rollouts": [], "rewards": []}]}"#, mentions: "rollouts"),
    .init(label: "point image_url missing", path: "/v1/point", body: #"{"object": "a"}"#, mentions: "image_url"),
    .init(label: "detect image_url not base64", path: "/v1/detect", body: #"{"object": "a", "image_url": "data:image/png;base64,***"}"#, mentions: "image_url"),
    .init(label: "malformed model string", path: "/v1/query", body: #"{"model": "moondream3-preview/abc", "question": "q?"}"#, mentions: "model"),
    .init(label: "unknown model", path: "/v1/query", body: #"{"model": "gpt", "question": "q?"}"#, mentions: "model"),
]

@Suite("Bad input is refused with 400 and a message that says what is wrong")
struct ValidationTests {
    @Test("each malformed request is a 400 naming the problem", arguments: badRequests)
    func refused(_ bad: BadRequestCase) async throws {
        try await withSimulator { sim in
            let id = try await sim.createFinetune("validation")
            let body = bad.body.replacingOccurrences(of: "$FT", with: id).replacingOccurrences(of: "IMG", with: image)
            let answer = try await sim.send(.POST, bad.path, body: body)
            #expect(answer.status == 400, "\(bad.label): \(answer.errorMessage)")
            #expect(answer.errorCode == "bad_request")
            #expect(answer.errorMessage.contains(bad.mentions), "\(bad.label): \(answer.errorMessage)")
        }
    }
}
