// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "pgrelay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pgrelay", targets: ["pgrelay"]),
        .library(name: "PGRelayCore", targets: ["PGRelayCore"]),
        .library(name: "PGRelayPostgres", targets: ["PGRelayPostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.0.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
    ],
    targets: [
        // The C shim for libpq (libpq-dev on Debian).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // Pure Swift, no I/O: events, names, SQL rendering, JSON.
        .target(name: "PGRelayCore"),
        // The SQL that `pgrelay init` and `subscribe` install, shipped as resources.
        .target(
            name: "PGRelaySQL",
            path: "triggers",
            sources: ["TriggerSQL.swift"],
            resources: [.copy("sql")]
        ),
        // libpq: connections, the listener, the change log, the installer.
        .target(
            name: "PGRelayPostgres",
            dependencies: [
                "CLibPQ", "PGRelayCore", "PGRelaySQL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon: Hub, HTTP routes (SSE, JSON replay, health).
        .target(
            name: "PGRelayServer",
            dependencies: [
                "PGRelayCore", "PGRelayPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            // The inspector's page, style and script.
            resources: [.copy("Inspector/Resources")]
        ),
        .executableTarget(
            name: "pgrelay",
            dependencies: [
                "PGRelayCore", "PGRelayPostgres", "PGRelayServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Throwaway Postgres clusters and subprocesses for the integration and end-to-end tests.
        .target(name: "PGRelayTestSupport", dependencies: ["PGRelayPostgres", "PGRelayCore"]),
        // Tests that need no database (pure logic: Core, and the server's Tail, limits, settings):
        // `swift test --filter 'PGRelayCoreTests|PGRelayUnitTests'` runs them in seconds without Postgres.
        .testTarget(name: "PGRelayCoreTests", dependencies: ["PGRelayCore"]),
        .testTarget(name: "PGRelayUnitTests", dependencies: ["PGRelayServer", "PGRelayPostgres", "PGRelayCore"]),
        // Integration tests against a real Postgres: the write path, the log, the listener.
        .testTarget(
            name: "PGRelayPostgresTests",
            dependencies: ["PGRelayPostgres", "PGRelayCore", "PGRelaySQL", "PGRelayTestSupport"],
            // Schema version 2's functions, read by the upgrade test.
            exclude: ["Fixtures"]
        ),
        // End to end: the built `pgrelay` binary's commands, `pgrelay demo`, the inspector in Chromium.
        .testTarget(
            name: "PGRelayEndToEndTests",
            dependencies: ["PGRelayPostgres", "PGRelayCore", "PGRelayTestSupport"]
        ),
        .testTarget(
            name: "PGRelayServerTests",
            dependencies: [
                "PGRelayServer", "PGRelayPostgres", "PGRelayCore", "PGRelayTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
