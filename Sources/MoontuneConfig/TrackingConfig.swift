import Foundation

/// `tracking`: where the job's charts go besides moontune's own (issue 23). Not a training
/// setting: it is not part of the training fingerprint, so a running job may gain or lose it.
public struct TrackingConfig: Sendable, Equatable {
    /// `tracking.tensorboard`: event files under `<logdir>/<job name>/`.
    public var tensorboard: TensorBoardConfig?
    /// `tracking.mlflow`: one run per job on an MLflow tracking server.
    public var mlflow: MLflowConfig?

    public init(tensorboard: TensorBoardConfig? = nil, mlflow: MLflowConfig? = nil) {
        self.tensorboard = tensorboard
        self.mlflow = mlflow
    }

    static let keys = ["tensorboard", "mlflow"]
}

public struct TensorBoardConfig: Sendable, Equatable {
    /// The log directory, resolved against the config file's folder.
    public var logdir: URL

    public init(logdir: URL) {
        self.logdir = logdir
    }

    static let keys = ["logdir"]
}

public struct MLflowConfig: Sendable, Equatable {
    /// The tracking server's root, such as `http://127.0.0.1:5000`, without a trailing slash.
    /// Never holds credentials: they come from MLflow's own environment variables.
    public var trackingURI: String
    /// The experiment's name (created when missing).
    public var experiment: String

    public init(trackingURI: String, experiment: String) {
        self.trackingURI = trackingURI
        self.experiment = experiment
    }

    static let keys = ["tracking_uri", "experiment"]
}

extension ConfigDecoder {
    /// `tracking`: every problem located (file, line, field), unknown keys refused.
    func decodeTracking(_ tracking: ObjectReader, folder: URL) -> TrackingConfig? {
        tracking.checkKeys(TrackingConfig.keys)
        var result = TrackingConfig()
        var valid = true
        if let tensorboard = tracking.object("tensorboard") {
            tensorboard.checkKeys(TensorBoardConfig.keys)
            if let logdir = tensorboard.string("logdir", required: true),
               tensorboard.check("logdir", !logdir.isEmpty, "must name a folder, such as \"runs\"") {
                let expanded = (logdir as NSString).expandingTildeInPath
                result.tensorboard = TensorBoardConfig(logdir: URL(fileURLWithPath: expanded, relativeTo: folder).standardizedFileURL)
            } else {
                valid = false
            }
        }
        if let mlflow = tracking.object("mlflow") {
            mlflow.checkKeys(MLflowConfig.keys)
            let uri = mlflow.string("tracking_uri", required: true)
            let experiment = mlflow.string("experiment", required: true)
            var trimmed = uri ?? ""
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            let url = URL(string: trimmed)
            let isHTTP = url.map { ["http", "https"].contains($0.scheme?.lowercased() ?? "") && !($0.host ?? "").isEmpty } ?? false
            let uriValid = uri != nil
                && mlflow.check("tracking_uri", isHTTP, "expected the tracking server's http:// or https:// URL, such as "
                    + "http://127.0.0.1:5000, got \"\(uri ?? "")\"")
                && mlflow.check("tracking_uri", url?.user == nil && url?.password == nil,
                                "must not hold credentials: set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
                                    + "MLFLOW_TRACKING_PASSWORD")
            let experimentValid = experiment != nil
                && mlflow.check("experiment", !(experiment ?? "").trimmingCharacters(in: .whitespaces).isEmpty,
                                "must name an experiment, such as \"moontune\"")
            if uriValid, experimentValid, let experiment {
                result.mlflow = MLflowConfig(trackingURI: trimmed, experiment: experiment)
            } else {
                valid = false
            }
        }
        return valid && (result.tensorboard != nil || result.mlflow != nil) ? result : nil
    }
}
