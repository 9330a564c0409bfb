import Foundation
import NIOCore

extension MoondreamClient {
    // MARK: - Finetunes

    /// `POST /tuning/finetunes`. Idempotent by name: the same name and rank return the same id;
    /// another rank is a conflict (409).
    public func createFinetune(name: String, rank: Int) async throws -> String {
        struct Body: Encodable { var name: String; var rank: Int }
        struct Answer: Decodable { var finetuneID: String; enum CodingKeys: String, CodingKey { case finetuneID = "finetune_id" } }
        let path = "/tuning/finetunes"
        let response = try await send("POST", path, body: try Self.jsonBody(Body(name: name, rank: rank)), idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST \(path)").finetuneID
    }

    /// `GET /tuning/finetunes/:id`.
    public func finetune(id: String) async throws -> Finetune {
        let path = "/tuning/finetunes/\(Self.segment(id))"
        let response = try await send("GET", path, idempotent: true)
        return try decode(Finetune.self, from: response, endpoint: "GET \(path)")
    }

    /// One page of `GET /tuning/finetunes`, oldest first.
    public func listFinetunes(limit: Int = 50, cursor: String? = nil) async throws -> Page<Finetune> {
        struct Answer: Decodable {
            var finetunes: [Finetune]; var nextCursor: String?; var hasMore: Bool?
            enum CodingKeys: String, CodingKey { case finetunes, nextCursor = "next_cursor", hasMore = "has_more" }
        }
        let path = "/tuning/finetunes"
        let response = try await send("GET", path, query: Self.pageQuery(limit, cursor), idempotent: true)
        let answer = try decode(Answer.self, from: response, endpoint: "GET \(path)")
        return Page(items: answer.finetunes, nextCursor: answer.nextCursor, hasMore: answer.hasMore ?? (answer.nextCursor != nil))
    }

    /// Every finetune of the organization, page after page.
    public func allFinetunes(pageSize: Int = 100) -> Paginated<Finetune> {
        Paginated { cursor in try await self.listFinetunes(limit: pageSize, cursor: cursor) }
    }

    /// `DELETE /tuning/finetunes/:id` (a soft delete).
    public func deleteFinetune(id: String) async throws {
        _ = try await send("DELETE", "/tuning/finetunes/\(Self.segment(id))", idempotent: true)
    }

    // MARK: - Rollouts and training

    /// `POST /tuning/rollouts`. Safe to repeat (a repeat only makes other samples), so retried.
    ///
    /// The echoed request and each rollout are kept byte for byte; only `output` is decoded.
    public func rollouts(_ request: RolloutsRequest) async throws -> RolloutsResponse {
        let endpoint = "POST /tuning/rollouts"
        let response = try await send("POST", "/tuning/rollouts", body: try Self.jsonBody(request), idempotent: true)
        return try Self.parseRollouts(response.body, skill: request.request.skill, endpoint: endpoint)
    }

    static func parseRollouts(_ body: [UInt8], skill: Skill, endpoint: String) throws -> RolloutsResponse {
        func undecodable(_ why: String) -> APIError {
            APIError(kind: .undecodable, endpoint: endpoint, status: 200, message: why)
        }
        guard let json = try? RawJSON(validating: body), let members = json.objectMembers() else {
            throw undecodable("the answer is not a JSON object")
        }
        // One pass over the top level: the echoed request can carry a large image.
        func member(_ key: String) -> RawJSON? { members.last { $0.key == key }?.value }
        guard let request = member("request"), request.isObject else { throw undecodable("missing 'request' object") }
        guard let rolloutValues = member("rollouts")?.arrayElements() else { throw undecodable("missing 'rollouts' array") }
        guard !rolloutValues.isEmpty else { throw undecodable("no rollouts in the answer") }
        guard rolloutValues.allSatisfy(\.isObject) else { throw undecodable("a rollout is not an object") }
        var rewards: [Double]?
        if let rewardsValue = member("rewards"), !rewardsValue.isNull {
            guard let values = try? rewardsValue.decode([Double].self) else { throw undecodable("'rewards' is not a list of numbers") }
            guard values.count == rolloutValues.count else {
                throw undecodable("\(values.count) rewards for \(rolloutValues.count) rollouts")
            }
            guard values.allSatisfy(\.isFinite) else { throw undecodable("a reward is not a finite number") }
            rewards = values
        }
        return RolloutsResponse(request: request, rollouts: rolloutValues.map { Rollout(raw: $0, skill: skill) },
                                rewards: rewards)
    }

    /// `POST /tuning/train_step`: applies one step. Not idempotent — every success advances the
    /// server's step — so it is retried only when it certainly did not reach the server (a 429, or
    /// no connection). Any other transient failure is thrown with `isAmbiguous` set: the step may
    /// have been applied, and the caller must reconcile before going on.
    public func trainStep(finetuneID: String, groups: [TrainGroup], lr: Double?) async throws -> TrainStepResult {
        let path = "/tuning/train_step"
        let body = try Self.trainStepBody(finetuneID: finetuneID, groups: groups, lr: lr, endpoint: "POST \(path)")
        let response = try await send("POST", path, body: body, idempotent: false)
        let trimmed = response.body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if trimmed.isEmpty { return TrainStepResult(raw: RawJSON(trusted: ArraySlice("{}".utf8))) }
        // The step was applied whatever the body says; a body we cannot read only loses its statistics.
        guard let raw = try? RawJSON(validating: response.body), raw.isObject else {
            return TrainStepResult(raw: RawJSON(trusted: ArraySlice("{}".utf8)))
        }
        return TrainStepResult(raw: raw)
    }

    /// Splices the raw requests and rollouts into the body unchanged.
    static func trainStepBody(finetuneID: String, groups: [TrainGroup], lr: Double?, endpoint: String) throws -> ByteBuffer {
        guard !groups.isEmpty else {
            throw APIError(kind: .badRequest, endpoint: endpoint, message: "a train step needs at least one group (not sent)")
        }
        var buffer = ByteBuffer()
        buffer.writeString("{\"finetune_id\":")
        buffer.writeBytes(try RawJSON.encoding(finetuneID).bytes)
        buffer.writeString(",\"groups\":[")
        for (index, group) in groups.enumerated() {
            guard group.rewards.count == group.rollouts.count, !group.rollouts.isEmpty else {
                throw APIError(kind: .badRequest, endpoint: endpoint,
                               message: "group \(index): \(group.rewards.count) rewards for \(group.rollouts.count) rollouts (not sent)")
            }
            guard group.rewards.allSatisfy(\.isFinite) else {
                throw APIError(kind: .badRequest, endpoint: endpoint, message: "group \(index): a reward is not finite (not sent)")
            }
            if index > 0 { buffer.writeString(",") }
            buffer.writeString("{\"request\":")
            buffer.writeBytes(group.request.bytes)
            buffer.writeString(",\"rollouts\":[")
            for (rolloutIndex, rollout) in group.rollouts.enumerated() {
                if rolloutIndex > 0 { buffer.writeString(",") }
                buffer.writeBytes(rollout.bytes)
            }
            buffer.writeString("],\"rewards\":[")
            buffer.writeString(group.rewards.map { "\($0)" }.joined(separator: ","))
            buffer.writeString("]}")
        }
        buffer.writeString("]")
        if let lr {
            guard lr.isFinite else {
                throw APIError(kind: .badRequest, endpoint: endpoint, message: "lr is not finite (not sent)")
            }
            buffer.writeString(",\"lr\":\(lr)")
        }
        buffer.writeString("}")
        return buffer
    }

    // MARK: - Checkpoints

    /// One page of a finetune's saved checkpoints, ascending by step.
    public func listCheckpoints(finetuneID: String, limit: Int = 50, cursor: String? = nil) async throws -> Page<Checkpoint> {
        struct Answer: Decodable {
            var checkpoints: [Checkpoint]; var nextCursor: String?; var hasMore: Bool?
            enum CodingKeys: String, CodingKey { case checkpoints, nextCursor = "next_cursor", hasMore = "has_more" }
        }
        let path = "/tuning/finetunes/\(Self.segment(finetuneID))/checkpoints"
        let response = try await send("GET", path, query: Self.pageQuery(limit, cursor), idempotent: true)
        let answer = try decode(Answer.self, from: response, endpoint: "GET \(path)")
        return Page(items: answer.checkpoints, nextCursor: answer.nextCursor, hasMore: answer.hasMore ?? (answer.nextCursor != nil))
    }

    /// Every saved checkpoint of a finetune, page after page.
    public func allCheckpoints(finetuneID: String, pageSize: Int = 100) -> Paginated<Checkpoint> {
        Paginated { cursor in try await self.listCheckpoints(finetuneID: finetuneID, limit: pageSize, cursor: cursor) }
    }

    /// `POST .../checkpoints/save`: saves the finetune's current step and says which step that is.
    /// Idempotent. A 404 means the finetune is missing or has no step to save (step 0).
    public func saveCheckpoint(finetuneID: String) async throws -> Checkpoint {
        struct Answer: Decodable { var checkpoint: Checkpoint }
        let path = "/tuning/finetunes/\(Self.segment(finetuneID))/checkpoints/save"
        let response = try await send("POST", path, body: ByteBuffer(string: "{}"), idempotent: true)
        return try decode(Answer.self, from: response, endpoint: "POST \(path)").checkpoint
    }

    /// `DELETE .../checkpoints/:step`. 404 if it never existed, 410 if already deleted.
    public func deleteCheckpoint(finetuneID: String, step: Int) async throws {
        _ = try await send("DELETE", "/tuning/finetunes/\(Self.segment(finetuneID))/checkpoints/\(step)", idempotent: true)
    }

    static func pageQuery(_ limit: Int, _ cursor: String?) -> [(String, String)] {
        var query = [("limit", String(limit))]
        if let cursor { query.append(("cursor", cursor)) }
        return query
    }
}
