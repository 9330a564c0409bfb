import MoontuneJSON
/// Checkpoints: snapshots of a finetune's policy at a step, and the server-side restore.
extension SimulatorEngine {
    package func listCheckpoints(_ id: String, limit: Int, after: Int?) throws(APIFailure) -> JSONValue {
        let record = try liveFinetune(id)
        let now = nowMs
        let live = record.checkpoints.values.filter { $0.isAvailable(at: now) && $0.step > (after ?? -1) }.sorted { $0.step < $1.step }
        let page = Array(live.prefix(limit))
        let hasMore = live.count > page.count
        let next: JSONValue = hasMore ? .string(PageCursor.encode(after: page.last?.step ?? 0)) : .null
        return .members([("checkpoints", .list(page.map { record.checkpointJSON($0, live: style.live) })), ("next_cursor", next), ("has_more", .bool(hasMore))])
    }

    /// Saves the current step's policy; saving the same step again returns the same checkpoint
    /// (and brings a deleted one back; an expired one is saved anew).
    package func saveCheckpoint(_ id: String) throws(APIFailure) -> JSONValue {
        var record = try liveFinetune(id)
        guard record.step > 0 else { throw .notFound("no checkpoint is available: finetune \(id) has not been trained yet") }
        let now = nowMs
        if var existing = record.checkpoints[record.step], !existing.isExpired(at: now) {
            if existing.deleted {
                existing.deleted = false
                existing.updatedAtMs = now
                record.checkpoints[record.step] = existing
            }
        } else {
            record.checkpoints[record.step] = .init(checkpointID: makeID(), step: record.step, createdAtMs: now,
                                                    updatedAtMs: now, deleted: false,
                                                    expiresAtMs: style.live ? style.checkpointTTLMs.map { now + $0 } : nil, policy: record.policy)
        }
        finetunes[id] = record
        guard let saved = record.checkpoints[record.step] else { throw .notFound("no checkpoint is available") }
        return .members([("ok", .bool(true)), ("checkpoint", record.checkpointJSON(saved, live: style.live))])
    }

    package func deleteCheckpoint(_ id: String, step: Int) throws(APIFailure) -> JSONValue {
        let record = try liveFinetune(id)
        guard let checkpoint = record.checkpoints[step] else { throw .notFound("finetune \(id) has no checkpoint at step \(step)") }
        guard !checkpoint.deleted else { throw .gone("the checkpoint at step \(step) of finetune \(id) was already deleted") }
        finetunes[id]?.checkpoints[step]?.deleted = true
        finetunes[id]?.checkpoints[step]?.updatedAtMs = nowMs
        return .members([("ok", .bool(true))])
    }

    /// As if the server had been restored from the checkpoint at `step`: the policy and step roll
    /// back to it and every later checkpoint disappears.
    package func restore(_ id: String, step: Int) throws(APIFailure) -> JSONValue {
        var record = try liveFinetune(id)
        guard let checkpoint = record.checkpoints[step], checkpoint.isAvailable(at: nowMs) else {
            throw .notFound("finetune \(id) has no saved checkpoint at step \(step)")
        }
        record.policy = checkpoint.policy
        record.step = step
        record.checkpoints = record.checkpoints.filter { $0.key <= step }
        record.updatedAtMs = nowMs
        finetunes[id] = record
        return .members([("ok", .bool(true)), ("step", .int(step))])
    }

    /// The policy a `model` string names: the base policy, or a saved checkpoint's snapshot.
    package func policy(forModel model: String?) throws(APIFailure) -> Policy {
        let base = "moondream3-preview"
        guard let model, model != base else { return Policy(seed: seed) }
        let form = "model must be '\(base)' or '\(base)/{finetune_id}@{step}'"
        guard model.hasPrefix(base + "/") else { throw .badRequest("\(form), got '\(model)'") }
        let rest = model.dropFirst(base.count + 1)
        guard let at = rest.lastIndex(of: "@") else { throw .badRequest("\(form): the @step is missing") }
        let finetuneID = String(rest[..<at]), stepText = rest[rest.index(after: at)...]
        guard !finetuneID.isEmpty, !finetuneID.contains("/") else { throw .badRequest("\(form): the finetune id is missing") }
        guard let step = Int(stepText), step >= 0 else { throw .badRequest("\(form): '\(stepText)' is not a step number") }
        let record = try liveFinetune(finetuneID)
        guard let checkpoint = record.checkpoints[step], checkpoint.isAvailable(at: nowMs) else {
            throw .notFound("finetune \(finetuneID) has no saved checkpoint at step \(step)")
        }
        return checkpoint.policy
    }
}
