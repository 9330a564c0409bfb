import MoontuneJSON
import Foundation

/// A job as the user described it: fully defaulted, every path resolved, every value checked.
public struct JobConfig: Sendable, Equatable {
    /// The job's name and its finetune's name.
    public var name: String
    /// LoRA rank: 8, 16, 24 or 32.
    public var rank: Int
    public var api: APIConfig
    public var data: DataConfig
    public var train: TrainConfig
    public var checkpoint: CheckpointConfig
    /// Nil when there is no eval set.
    public var eval: EvalConfig?
    public var reward: RewardConfig
    /// `budget`; nil when not set.
    public var budget: BudgetConfig?
    /// `early_stop`; nil when not set.
    public var earlyStop: EarlyStopConfig?
    /// Where `serve` sends the job's events (issue 13); nil: nowhere.
    public var notify: NotifyConfig? = nil
    /// Where the job's charts also go: TensorBoard, MLflow (issue 23); nil: nowhere.
    public var tracking: TrackingConfig? = nil
    /// The config file.
    public var sourceURL: URL

    /// Canonical JSON of the resolved config (sorted keys, defaults filled in, absolute paths),
    /// for the record of what a job ran with. It holds no secret: only the key's variable name.
    public var snapshotJSON: String { snapshot().serialized(sortedKeys: true) }

    public init(name: String, rank: Int, api: APIConfig = APIConfig(), data: DataConfig, train: TrainConfig,
                checkpoint: CheckpointConfig, eval: EvalConfig? = nil, reward: RewardConfig = RewardConfig(),
                sourceURL: URL) {
        self.name = name
        self.rank = rank
        self.api = api
        self.data = data
        self.train = train
        self.checkpoint = checkpoint
        self.eval = eval
        self.reward = reward
        self.sourceURL = sourceURL
    }

    /// Reads and checks a config file. Every problem is reported at once, each with its line and
    /// JSON path; warnings are things that work but are probably not what was meant.
    public static func load(from url: URL) throws(ConfigError) -> LoadedConfig {
        try load(from: url, text: nil)
    }

    /// Checks a config given as `text`, as if read from the file at `url` (its folder resolves
    /// relative paths, and messages name it): a job's config as recorded at its admission.
    /// With `text` nil, the file is read.
    public static func load(from url: URL, text: String?) throws(ConfigError) -> LoadedConfig {
        let decoding = decode(from: url, text: text)
        guard decoding.problems.isEmpty else { throw ConfigError(problems: decoding.problems) }
        return LoadedConfig(config: decoding.config, warnings: decoding.warnings)
    }

    /// Reads a config, keeping going after problems: bad values are replaced by defaults so the
    /// rest (the datasets above all) can still be checked. With `text`, that is the config's text
    /// and the file is not read.
    package static func decode(from url: URL, text: String? = nil) -> ConfigDecoding {
        let file = url.path
        let bytes: [UInt8]
        if let text {
            bytes = Array(text.utf8)
        } else {
            do {
                bytes = Array(try Data(contentsOf: url))
            } catch {
                return ConfigDecoding.failed(url, Problem(file: file, field: "", message: "cannot read the config: \(Self.reason(error))"))
            }
        }
        let locator = SourceLocator(bytes)
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            let (line, column) = locator.location(of: error.offset)
            return ConfigDecoding.failed(url, Problem(file: file, line: line, field: error.path,
                                                      message: "invalid JSON at column \(column): \(error.message)"))
        }
        let sink = ProblemSink(file: file, locator: locator)
        return ConfigDecoder(sink: sink, configURL: url).decode(root)
    }

    package static func reason(_ error: any Error) -> String {
        if let cocoa = error as? CocoaError, let underlying = cocoa.underlying as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        if let cocoa = error as? CocoaError {
            switch cocoa.code {
            case .fileReadNoSuchFile: return "no such file"
            case .fileReadNoPermission: return "permission denied"
            default: break
            }
        }
        return error.localizedDescription
    }
}

/// What decoding a config found, even when it found problems.
package struct ConfigDecoding {
    /// Best effort: values with problems hold their defaults.
    package var config: JobConfig
    /// Whether `data.train` was given (the datasets can only be checked if so).
    package var trainGiven: Bool
    package var problems: [Problem]
    package var warnings: [String]
    /// The lines of `data.train` and `data.eval` in the config, so that a problem with a whole
    /// dataset file (missing, a folder, empty) can point at the field that names it.
    package var referenceLines: [String: Int] = [:]

    package static func failed(_ url: URL, _ problem: Problem) -> ConfigDecoding {
        ConfigDecoding(config: .placeholder(url), trainGiven: false, problems: [problem], warnings: [])
    }
}

extension JobConfig {
    /// Defaults everywhere, to be filled in by decoding; its empty name is never valid.
    package static func placeholder(_ url: URL) -> JobConfig {
        JobConfig(name: "", rank: 16, data: DataConfig(train: url.deletingLastPathComponent()), train: TrainConfig(),
                  checkpoint: CheckpointConfig(everySteps: 1), sourceURL: url)
    }
}
