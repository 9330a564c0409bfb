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
        return try decode(FinetuneAnswer.self, from: response, endpoint: "GET \(path)").finetune
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
    /// have been applied (or may still be running on the server), and the caller must reconcile.
    ///
    /// - Parameter timeout: the deadline of the call. Train steps run for tens of seconds to
    ///   minutes on the live service, far past an ordinary request's deadline.
    public func trainStep(finetuneID: String, groups: [TrainGroup], lr: Double?, timeout: Duration? = nil) async throws -> TrainStepResult {
        let path = "/tuning/train_step"
        let body = try Self.trainStepBody(finetuneID: finetuneID, groups: groups, lr: lr, endpoint: "POST \(path)")
        let response = try await send("POST", path, body: body, idempotent: false, timeout: timeout)
        return Self.parseTrainStep(response.body)
    }

    /// The step was applied whatever the body says (a 2xx): a body that cannot be read only loses
    /// its statistics, and reads as the reference's `{}`.
    static func parseTrainStep(_ body: [UInt8]) -> TrainStepResult {
        let empty = TrainStepResult(raw: RawJSON(trusted: ArraySlice("{}".utf8)))
        guard body.contains(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return empty }
        guard let raw = try? RawJSON(validating: body), raw.isObject else { return empty }
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
            if index > 0 { buffer.writeString(",") }
            switch group {
            case let .rl(request, rollouts, rewards):
                guard rewards.count == rollouts.count, !rollouts.isEmpty else {
                    throw APIError(kind: .badRequest, endpoint: endpoint,
                                   message: "group \(index): \(rewards.count) rewards for \(rollouts.count) rollouts (not sent)")
                }
                guard rewards.allSatisfy(\.isFinite) else {
                    throw APIError(kind: .badRequest, endpoint: endpoint, message: "group \(index): a reward is not finite (not sent)")
                }
                buffer.writeString("{\"mode\":\"rl\",\"request\":")
                buffer.writeBytes(request.bytes)
                buffer.writeString(",\"rollouts\":[")
                for (rolloutIndex, rollout) in rollouts.enumerated() {
                    if rolloutIndex > 0 { buffer.writeString(",") }
                    buffer.writeBytes(rollout.bytes)
                }
                buffer.writeString("],\"rewards\":[")
                buffer.writeString(rewards.map { "\($0)" }.joined(separator: ","))
                buffer.writeString("]}")
            case let .sft(request, target):
                guard request.isObject, target.isObject else {
                    throw APIError(kind: .badRequest, endpoint: endpoint, message: "group \(index): an SFT group needs a request and a target object (not sent)")
                }
                buffer.writeString("{\"mode\":\"sft\",\"request\":")
                buffer.writeBytes(request.bytes)
                buffer.writeString(",\"target\":")
                buffer.writeBytes(target.bytes)
                buffer.writeString("}")
            }
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

    // MARK: - Metrics

    /// `POST /tuning/finetunes/:id/metrics` (live service): user metrics shown in the Moondream
    /// console beside the server's own. Best effort: a few quick attempts, never the long
    /// give-up time of training calls. Names and values are checked as the service checks them
    /// (`MetricName`), so a refusal is never a surprise.
    public func logMetrics(finetuneID: String, step: Int, metrics: [String: Double]) async throws -> Int {
        let path = "/tuning/finetunes/\(Self.segment(finetuneID))/metrics"
        let endpoint = "POST \(path)"
        if let problem = MetricName.problem(in: metrics) {
            throw APIError(kind: .badRequest, endpoint: endpoint, message: "\(problem) (not sent)")
        }
        struct Body: Encodable { var step: Int; var metrics: [String: Double] }
        struct Answer: Decodable {
            var loggedCount: Int?
            enum CodingKeys: String, CodingKey { case loggedCount = "logged_count" }
        }
        var policy = configuration.retry
        policy.maxAttempts = 3
        policy.giveUpAfter = .seconds(30)
        policy.maxDelay = .seconds(5)
        let response = try await send("POST", path, body: try Self.jsonBody(Body(step: step, metrics: metrics)),
                                      idempotent: true, policy: policy)
        return (try? JSONDecoder().decode(Answer.self, from: Data(response.body)))?.loggedCount ?? metrics.count
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
        var checkpoint = try decode(Answer.self, from: response, endpoint: "POST \(path)").checkpoint
        if checkpoint.finetuneID.isEmpty { checkpoint.finetuneID = finetuneID }
        return checkpoint
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
