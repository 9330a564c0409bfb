import MoondreamAPI
import MoontuneStore

/// One checkpoint as the local record and the server see it.
package struct JoinedCheckpoint: Encodable, Sendable, Equatable {
    package var step: Int
    package var checkpointID: String
    /// `cadence`, `final`, `reconcile`; nil when only the server knows it.
    package var kind: String?
    /// `saved`, `deleting` or `deleted` in the record; nil when the record does not have it.
    package var recorded: String?
    /// Whether the server lists it as saved; nil when the server was not asked.
    package var onServer: Bool?
    package var savedAtMs: Int64?
    package var deletedAtMs: Int64?
    /// When the server deletes it (live service), from the server's list or else the record; nil
    /// when unknown.
    package var expiresAtMs: Int64?
    package var model: String

    package enum CodingKeys: String, CodingKey {
        case step, checkpointID = "checkpoint_id", kind, recorded, onServer = "on_server", savedAtMs = "saved_at_ms"
        case deletedAtMs = "deleted_at_ms", expiresAtMs = "expires_at_ms", model, state
    }

    /// The one word a table shows: where record and server agree, their state; otherwise what
    /// differs.
    package var state: String {
        switch (recorded, onServer) {
        case ("saved", true?), ("saved", nil): "saved"
        case ("saved", false?): "missing on server"
        case ("deleting", true?), ("deleting", nil): "deleting (unfinished)"
        case ("deleting", false?): "deleted (unrecorded)"
        case ("deleted", true?): "deleted, yet listed"
        case ("deleted", _): "deleted"
        case (nil, _): "on server only"
        default: "unknown"
        }
    }

    /// Whether inference can use it.
    package var usable: Bool { onServer ?? (recorded == "saved") }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(step, forKey: .step)
        try container.encode(checkpointID, forKey: .checkpointID)
        try container.encode(kind, forKey: .kind)
        try container.encode(recorded, forKey: .recorded)
        try container.encode(onServer, forKey: .onServer)
        try container.encode(savedAtMs, forKey: .savedAtMs)
        try container.encode(deletedAtMs, forKey: .deletedAtMs)
        try container.encode(expiresAtMs, forKey: .expiresAtMs)
        try container.encode(model, forKey: .model)
        try container.encode(state, forKey: .state)
    }
}

/// Joins a job's checkpoint record with the server's list, by step. Pure.
package enum CheckpointJoin {
    /// Every step either side knows, ascending. `server` nil means the server was not asked.
    /// Joined by the server's step (a record's differs from its own after skipped steps); shown
    /// by the record's step where there is a record.
    package static func join(record: [CheckpointRecord], server: [Checkpoint]?, finetuneID: String) -> [JoinedCheckpoint] {
        let recorded = Dictionary(record.map { ($0.stepOnServer, $0) }, uniquingKeysWith: { a, _ in a })
        let listed = Dictionary((server ?? []).map { ($0.step, $0) }, uniquingKeysWith: { a, _ in a })
        return Set(recorded.keys).union(listed.keys).sorted().map { serverStep in
            let local = recorded[serverStep]
            let remote = listed[serverStep]
            let step = local?.step ?? serverStep
            let state: String? = local.map { $0.deletedAtMs != nil ? "deleted" : ($0.deletingAtMs != nil ? "deleting" : "saved") }
            return JoinedCheckpoint(step: step, checkpointID: local?.checkpointID ?? remote?.checkpointID ?? "-",
                                    kind: local?.kind.rawValue, recorded: state, onServer: server.map { _ in remote != nil },
                                    savedAtMs: local?.savedAtMs ?? remote?.createdAtMs, deletedAtMs: local?.deletedAtMs,
                                    expiresAtMs: remote?.expiresAtMs ?? local?.expiresAtMs,
                                    model: inferenceModel(finetuneID: finetuneID, step: serverStep))
        }
    }

    /// A table; models that inference can no longer use are in parentheses.
    package static func render(_ checkpoints: [JoinedCheckpoint], job: String, serverNote: String?) -> String {
        guard !checkpoints.isEmpty else { return "job \(job) has no checkpoints" + (serverNote.map { "\n\($0)" } ?? "") }
        let expiring = checkpoints.contains { $0.expiresAtMs != nil }
        var rows = [["STEP", "KIND", "STATE", "SAVED"] + (expiring ? ["EXPIRES"] : []) + ["CHECKPOINT", "MODEL"]]
        for checkpoint in checkpoints {
            rows.append([String(checkpoint.step), checkpoint.kind ?? "-", checkpoint.state,
                         checkpoint.savedAtMs.map(StatusText.date) ?? "-"]
                        + (expiring ? [checkpoint.expiresAtMs.map(StatusText.date) ?? "-"] : [])
                        + [checkpoint.checkpointID, checkpoint.usable ? checkpoint.model : "(\(checkpoint.model))"])
        }
        let usable = checkpoints.filter(\.usable).count
        var text = PlainTable.render(rows, rightAligned: [0])
        text += "\n\(usable) usable, \(checkpoints.count - usable) deleted; models in parentheses can no longer be used"
        if let serverNote { text += "\n\(serverNote)" }
        return text
    }
}
