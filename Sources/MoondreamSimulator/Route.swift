import MoondreamSimulatorEngine
/// The simulator's routes, matched from method and path segments.
enum Route: Sendable, Equatable {
    case createFinetune, listFinetunes, getFinetune(String), deleteFinetune(String)
    case rollouts, trainStep
    case listCheckpoints(String), saveCheckpoint(String), deleteCheckpoint(String, String)
    /// The live service's `POST /tuning/finetunes/:id/metrics` (unknown in reference mode).
    case logMetrics(String)
    case query, caption, point, detect
    case simStats, simFaults, simOutage, simRestore(String), simResetStats, simMetrics(String)

    /// Nil when nothing matches; `pathExists` then tells 405 from 404.
    static func match(method: String, path: String) -> (route: Route?, pathExists: Bool) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let candidates: [(String, Route)]
        switch parts.count {
        case 2 where parts[0] == "_sim":
            switch parts[1] {
            case "stats": candidates = [("GET", .simStats)]
            case "faults": candidates = [("POST", .simFaults)]
            case "outage": candidates = [("POST", .simOutage)]
            case "reset-stats": candidates = [("POST", .simResetStats)]
            default: candidates = []
            }
        case 4 where parts[0] == "_sim" && parts[1] == "finetunes" && parts[3] == "restore":
            candidates = [("POST", .simRestore(parts[2]))]
        case 4 where parts[0] == "_sim" && parts[1] == "finetunes" && parts[3] == "metrics":
            candidates = [("GET", .simMetrics(parts[2]))]
        case 2 where parts[0] == "v1":
            switch parts[1] {
            case "query": candidates = [("POST", .query)]
            case "caption": candidates = [("POST", .caption)]
            case "point": candidates = [("POST", .point)]
            case "detect": candidates = [("POST", .detect)]
            default: candidates = []
            }
        case 3 where parts[0] == "v1" && parts[1] == "tuning":
            switch parts[2] {
            case "finetunes": candidates = [("POST", .createFinetune), ("GET", .listFinetunes)]
            case "rollouts": candidates = [("POST", .rollouts)]
            case "train_step": candidates = [("POST", .trainStep)]
            default: candidates = []
            }
        case 4 where parts[0] == "v1" && parts[1] == "tuning" && parts[2] == "finetunes":
            candidates = [("GET", .getFinetune(parts[3])), ("DELETE", .deleteFinetune(parts[3]))]
        case 5 where parts[0] == "v1" && parts[1] == "tuning" && parts[2] == "finetunes" && parts[4] == "checkpoints":
            candidates = [("GET", .listCheckpoints(parts[3]))]
        case 5 where parts[0] == "v1" && parts[1] == "tuning" && parts[2] == "finetunes" && parts[4] == "metrics":
            candidates = [("POST", .logMetrics(parts[3]))]
        case 6 where parts[0] == "v1" && parts[1] == "tuning" && parts[2] == "finetunes" && parts[4] == "checkpoints" && parts[5] == "save":
            candidates = [("POST", .saveCheckpoint(parts[3]))]
        case 6 where parts[0] == "v1" && parts[1] == "tuning" && parts[2] == "finetunes" && parts[4] == "checkpoints":
            candidates = [("DELETE", .deleteCheckpoint(parts[3], parts[5]))]
        default:
            candidates = []
        }
        return (candidates.first(where: { $0.0 == method })?.1, !candidates.isEmpty)
    }

    /// The label counted in `requests_by_endpoint`, ids replaced by placeholders.
    var label: String {
        switch self {
        case .createFinetune: "POST /v1/tuning/finetunes"
        case .listFinetunes: "GET /v1/tuning/finetunes"
        case .getFinetune: "GET /v1/tuning/finetunes/:id"
        case .deleteFinetune: "DELETE /v1/tuning/finetunes/:id"
        case .rollouts: "POST /v1/tuning/rollouts"
        case .trainStep: "POST /v1/tuning/train_step"
        case .listCheckpoints: "GET /v1/tuning/finetunes/:id/checkpoints"
        case .saveCheckpoint: "POST /v1/tuning/finetunes/:id/checkpoints/save"
        case .deleteCheckpoint: "DELETE /v1/tuning/finetunes/:id/checkpoints/:step"
        case .logMetrics: "POST /v1/tuning/finetunes/:id/metrics"
        case .query: "POST /v1/query"
        case .caption: "POST /v1/caption"
        case .point: "POST /v1/point"
        case .detect: "POST /v1/detect"
        case .simStats: "GET /_sim/stats"
        case .simFaults: "POST /_sim/faults"
        case .simOutage: "POST /_sim/outage"
        case .simRestore: "POST /_sim/finetunes/:id/restore"
        case .simResetStats: "POST /_sim/reset-stats"
        case .simMetrics: "GET /_sim/finetunes/:id/metrics"
        }
    }

    var isControl: Bool {
        switch self {
        case .simStats, .simFaults, .simOutage, .simRestore, .simResetStats, .simMetrics: true
        default: false
        }
    }
}
