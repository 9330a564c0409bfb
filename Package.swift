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
        // serve (issue 13): /metrics through swift-metrics, rendered by swift-prometheus.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // serve (issue 13): SHA-256 of API keys (budgets per key) and HMAC-SHA256 of webhooks.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // The entry point only: every command lives in MoontuneCLI.
        .executableTarget(name: "moontune", dependencies: ["MoontuneCLI"]),

        // Typed client for the Moondream tuning and inference API.
        .target(name: "MoondreamAPI", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The domain: job config, datasets, data order and rewards. No I/O beyond reading inputs.
        .target(name: "MoontuneJob", dependencies: ["MoondreamAPI"]),
        // The progress store: jobs, steps, checkpoints, evals and events in SQLite.
        .target(name: "MoontuneStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The training loop: drives the API, records progress in the store.
        .target(name: "MoontuneLoop", dependencies: [
            "MoondreamAPI", "MoontuneJob", "MoontuneStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A faithful local simulator of the tuning API, with learning and fault injection.
        .target(name: "MoondreamSimulator", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // libpng and libjpeg from the system, wrapped in C so their error longjmps stay in C.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        // Raster images: PNG/JPEG through CImageCodecs, simple drawing, the sample dataset.
        .target(name: "MoontuneImaging", dependencies: ["CImageCodecs"]),
        // The orchestrator daemon (issue 13): the queue, the shared request budget, the job
        // runners and the HTTP server (health, metrics, jobs, dashboard).
        .target(name: "MoontuneServe", dependencies: [
            "MoondreamAPI", "MoontuneJob", "MoontuneStore", "MoontuneLoop",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The subcommands.
        .target(name: "MoontuneCLI", dependencies: [
            "MoondreamAPI", "MoontuneJob", "MoontuneStore", "MoontuneLoop", "MoondreamSimulator", "MoontuneImaging",
            "MoontuneServe", // serve (issue 13)
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "MoondreamAPITests", dependencies: [
            "MoondreamAPI",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "MoontuneJobTests", dependencies: ["MoontuneJob"]),
        .testTarget(name: "MoontuneStoreTests", dependencies: ["MoontuneStore"]),
        .testTarget(name: "MoondreamSimulatorTests", dependencies: [
            "MoondreamSimulator", "MoondreamAPI", "MoontuneJob",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "MoontuneLoopTests", dependencies: ["MoontuneLoop", "MoondreamSimulator"]),
        .testTarget(name: "MoontuneCLITests", dependencies: ["MoontuneCLI", "MoontuneStore"]),
        .testTarget(name: "MoontuneServeTests", dependencies: ["MoontuneServe", "MoontuneStore", "MoondreamAPI"]),
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
