// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "moontune",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "moontune", targets: ["moontune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through AsyncHTTPClient; named so the client can tell TLS failures by type.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        // The HTML report's template: escapes every value by default.
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // SHA-256 for dataset and training fingerprints (already in the graph through the server side).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // Reward programs: scoped child processes in their own process group.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // Already in the graph through swift-subprocess; named for `FilePath` in its API.
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        // serve (issue 13): /metrics through swift-metrics, rendered by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The entry point only: every command lives in MoontuneCLI.
        .executableTarget(name: "moontune", dependencies: ["MoontuneCLI"]),

        // The one seeded generator (SplitMix64): data order, the simulator's sampling, sample images.
        .target(name: "MoontuneRandom"),
        // The one JSON layer: a located parser with a value that keeps number literals exact (config,
        // datasets, the simulator), its writer, and the span scanner that passes rollouts through
        // byte for byte (the client).
        .target(name: "MoontuneJSON"),

        // The shared domain types: skills, sampling settings, geometry. No dependencies (issue 21),
        // so that config and the loop's decisions do not link the HTTP client.
        .target(name: "MoontuneDomain"),

        // Typed client for the Moondream tuning and inference API.
        .target(name: "MoondreamAPI", dependencies: [
            "MoontuneDomain", "MoontuneJSON",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            // Deque for the one waiter queue (WaiterQueue).
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        // The job's config: its JSON file read into `JobConfig` and its sections, with
        // every problem at once and its line, key suggestions, and the snapshot a job records.
        .target(name: "MoontuneConfig", dependencies: ["MoontuneDomain", "MoontuneJSON"]),
        // The job's data: examples and their parser, the streaming dataset scan with its index cache,
        // the data order (which examples each step trains on), images (locator, format, cache,
        // trailer), COCO import, duplicate ids. Reads inputs; writes only the index cache and imports.
        .target(name: "MoontuneDataset", dependencies: [
            "MoondreamAPI", "MoontuneConfig", "MoontuneJSON", "MoontuneRandom",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The job's rewards: local rewards (answer matching, point and box scores) and external
        // reward programs, behind one `RewardScorer`.
        .target(name: "MoontuneRewards", dependencies: [
            "MoondreamAPI", "MoontuneConfig", "MoontuneDataset",
            // Model graders (issue 24): the judge's request body, and reading images off the pool.
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // The job's assembly: validation of config and dataset together, the training fingerprint,
        // and the request builder that turns an example into an API request. Re-exports the three above.
        .target(name: "MoontuneJob", dependencies: [
            "MoondreamAPI", "MoontuneConfig", "MoontuneDataset", "MoontuneRewards",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The progress store: jobs, steps, checkpoints, evals and events in SQLite.
        .target(name: "MoontuneStore", dependencies: [
            "MoontuneJSON", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The training loop's decisions, pure: the state machine (`LoopStateMachine`) over the
        // recorded progress and the planner (next move, horizon, staleness, checkpoint kinds,
        // retention, budget and early stop), what a train_step's answer or failure means, the
        // in-doubt watch, reconciliation, the groups-without-signal filter, and a step's figures.
        // No I/O, no clock, no sleeping, no tasks: values in, actions out. It uses only the value
        // types of the API client, the store and the config (no calls into them). Covered by
        // MoontuneDecisionsTests without a server or a process; MoontuneLoopTests runs them
        // through the real runner against in-memory fakes.
        .target(name: "MoontuneDecisions", dependencies: ["MoontuneDomain", "MoontuneConfig", "MoontuneStore"]),
        // Experiment trackers (issue 23): TensorBoard event files written by hand and MLflow over its
        // REST API, fed from the record beside the run, each point delivered exactly once.
        .target(name: "MoontuneTracking", dependencies: [
            "MoondreamAPI", "MoontuneConfig", "MoontuneJSON", "MoontuneStore", "MoontuneReport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The training loop's I/O: `JobRunner` executes what MoontuneDecisions decides (calls the
        // API, records progress in the store), with the step gatherer, the job session, the wait
        // tracker and metrics pushes, behind the `TuningService` and `ProgressRecording` protocols.
        .target(name: "MoontuneLoop", dependencies: [
            "MoondreamAPI", "MoontuneDecisions", "MoontuneJob", "MoontuneStore", "MoontuneTracking",
            // Sweeps (issue 25): the sweep file's located reader, random variants, the sweep's digest.
            "MoontuneJSON", "MoontuneRandom", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // The simulator's engine: what a faithful tuning API does with each request (finetunes,
        // rollouts, train steps, checkpoints, inference), its learning policies and rewards, and
        // its fault injection. No HTTP: it takes and gives `JSONValue` (MoontuneJSON), normalized.
        .target(name: "MoondreamSimulatorEngine", dependencies: [
            "MoontuneJSON", "MoontuneRandom",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The simulator's HTTP face (`moontune simulate`): routes, authentication, body limits and
        // the connection-level faults, over Hummingbird, in front of the engine.
        .target(name: "MoondreamSimulator", dependencies: [
            "MoondreamSimulatorEngine", "MoontuneJSON",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // libpng and libjpeg from the system, wrapped in C so their error longjmps stay in C.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        // Raster images: PNG/JPEG through CImageCodecs, simple drawing, the sample dataset.
        .target(name: "MoontuneImaging", dependencies: ["CImageCodecs", "MoontuneRandom"]),
        // What a job looks like to a reader: from the store alone, the status model and its text
        // forms, the HTML report with its SVG charts, comparison tables, metrics export rows; and
        // before it runs, validate's cost estimate and the probe's analysis (pure functions).
        .target(name: "MoontuneReport", dependencies: [
            // MoontuneImaging: the gallery's thumbnails (decode, scale down, draw, JPEG).
            // MoontuneRewards: the eval metrics' type, for compare's per-skill metrics.
            "MoondreamAPI", "MoontuneStore", "MoontuneConfig", "MoontuneImaging", "MoontuneRewards",
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
        // How a run shows itself: the live progress line on a terminal, logfmt and JSON log lines
        // (a swift-log handler), with the key redacted on the way out.
        .target(name: "MoontuneConsole", dependencies: [
            // MoontuneDecisions: a step's figures (`StepStatistics`) in the progress line and warnings.
            "MoondreamAPI", "MoontuneDecisions", "MoontuneLoop", "MoontuneStore", "MoontuneReport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The orchestrator daemon (issue 13): the queue, the shared request budget, the job
        // runners and the HTTP server (health, metrics, jobs, dashboard).
        .target(name: "MoontuneServe", dependencies: [
            // MoontuneDecisions: a step's figures (`StepStatistics`) in the events that feed /metrics.
            "MoondreamAPI", "MoontuneJob", "MoontuneStore", "MoontuneLoop", "MoontuneDecisions",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The management commands' logic (issue 21), without argument parsing or printing:
        // checkpoints (list joined with the server's, delete), finetunes (list, show, delete, which
        // finetune a NAME|ID means), predict (the checkpoint choice, one inference, the drawing) and
        // compare (models × examples through inference, scored with the job's rewards, recorded).
        // Values in, values or a `ManageFailure` out; the CLI parses, calls and prints.
        .target(name: "MoontuneManage", dependencies: [
            "MoondreamAPI", "MoontuneJob", "MoontuneStore", "MoontuneReport",
            // MoontuneLoop: the stop protocol, and progress written as facts (`ProgressFact`).
            "MoontuneLoop", "MoontuneDecisions",
            // MoontuneImaging: predict's drawing; NIOPosix: image reads off the thread pool.
            "MoontuneImaging", .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // The subcommands, signals and detached starts: argument parsing and printing.
        .target(name: "MoontuneCLI", dependencies: [
            "MoondreamAPI", "MoontuneJob", "MoontuneStore", "MoontuneLoop", "MoondreamSimulator", "MoontuneImaging",
            "MoontuneReport", "MoontuneConsole", "MoontuneServe", "MoontuneManage",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "MoondreamAPITests", dependencies: [
            "MoondreamAPI", "MoontuneJSON",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "MoontuneJobTests", dependencies: [
            "MoontuneJob", "MoontuneConfig", "MoontuneDataset", "MoontuneRewards", "MoontuneJSON", "MoontuneRandom",
            .product(name: "Crypto", package: "swift-crypto"),
            "MoondreamAPI", .product(name: "NIOCore", package: "swift-nio"),  // model graders' fake judge (issue 24)
        ]),
        .testTarget(name: "MoontuneStoreTests", dependencies: ["MoontuneStore"]),
        .testTarget(name: "MoondreamSimulatorTests", dependencies: [
            "MoondreamSimulator", "MoondreamSimulatorEngine", "MoondreamAPI", "MoontuneJob", "MoontuneRandom",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // The loop's pure decisions, one by one: planner, state machine, in-doubt watch, train
        // answers, reconciliation, learning controls, the group signal filter, step statistics.
        .testTarget(name: "MoontuneDecisionsTests", dependencies: ["MoontuneDecisions", "MoondreamAPI", "MoontuneStore"]),
        .testTarget(name: "MoontuneLoopTests", dependencies: ["MoontuneLoop", "MoontuneDecisions", "MoondreamSimulator",
                                                          "MoontuneRandom", "MoontuneStore"]),
        .testTarget(name: "MoontuneCLITests", dependencies: ["MoondreamAPI", "MoontuneCLI", "MoontuneReport", "MoontuneStore",
                                                            "MoontuneConsole", "MoontuneConfig", "MoontuneDecisions"]),
        .testTarget(name: "MoontuneTrackingTests", dependencies: [
            "MoontuneTracking", "MoontuneStore", "MoontuneConfig", "MoondreamAPI",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // The management library called directly, without the CLI: against the embedded simulator.
        .testTarget(name: "MoontuneManageTests", dependencies: [
            "MoontuneManage", "MoondreamAPI", "MoontuneStore", "MoontuneReport", "MoondreamSimulator",
        ]),
        .testTarget(name: "MoontuneServeTests", dependencies: ["MoontuneServe", "MoontuneStore", "MoondreamAPI",
                                                              .product(name: "Prometheus", package: "swift-prometheus"),
                                                              // /metrics fed by a real job's events, on the simulator.
                                                              "MoontuneLoop", "MoondreamSimulator"]),
        .testTarget(name: "EndToEndTests", dependencies: [
            "MoondreamSimulator", "MoontuneStore", "MoondreamAPI", "MoontuneImaging",
            // A hostile server in the test, stopped gracefully through its service group.
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),  // serve's webhook receiver (issue 13)
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
