// swift-tools-version: 6.2
import Foundation
import PackageDescription

/// CI sets BATCHGATE_STRICT=1: every warning in BatchGate's own targets is an error there.
let strict: [SwiftSetting] =
    ProcessInfo.processInfo.environment["BATCHGATE_STRICT"] == nil ? [] : [.treatAllWarnings(as: .error)]

/// The upcoming language features every BatchGate target is built with (as Hummingbird is): `any` spelled
/// out, members visible only through a module the file imports, imports internal unless marked `public`.
let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "BatchGate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batchgate", targets: ["batchgate"]),
        .executable(name: "bare-endpoint", targets: ["BareEndpoint"]),
        .executable(name: "webhook-receiver", targets: ["WebhookReceiver"]),
        .library(name: "BatchGateServer", targets: ["BatchGateServer"]),
        .library(name: "BatchGateSimulators", targets: ["BatchGateSimulators"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Only the OTLP/HTTP exporter: the gRPC one pulls in a large dependency tree.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // System libraries. Only BatchGateTransport imports libcurl, only BatchGateConfig imports libyaml.
        .systemLibrary(
            name: "CCurl",
            path: "Sources/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibYAML",
            path: "Sources/CLibYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),

        // Models, the lifecycle state machine, errors and plugin protocols. No I/O.
        .target(
            name: "BatchGateCore",
            dependencies: [.product(name: "Tracing", package: "swift-distributed-tracing")]
        ),
        .target(name: "BatchGateConfig", dependencies: ["BatchGateCore", "CLibYAML"]),
        .target(
            name: "BatchGateTransport",
            dependencies: [
                "BatchGateCore", "CCurl", .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "BatchGateStore",
            dependencies: [
                "BatchGateCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "BatchGatePostgresStore",
            dependencies: [
                "BatchGateCore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "BatchGateProviders",
            dependencies: ["BatchGateCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "BatchGateWebhooks",
            dependencies: [
                "BatchGateCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(
            name: "BatchGateServer",
            dependencies: [
                "BatchGateCore", "BatchGateTransport", "BatchGateStore", "BatchGatePostgresStore", "BatchGateProviders",
                "BatchGateWebhooks", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"), .product(name: "OTel", package: "swift-otel"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        .target(
            name: "BatchGateSimulators",
            dependencies: [
                "BatchGateCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "batchgate",
            dependencies: [
                "BatchGateServer", "BatchGateSimulators", "BatchGateConfig", "BatchGateCore",
                "BatchGateTransport", "BatchGateClient", "BatchGateProviders", "BatchGateWebhooks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The fixed-body Hummingbird endpoint the read-path benchmark compares against.
        .executableTarget(
            name: "BareEndpoint",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BareEndpoint"
        ),
        // The client's webhook receiver of the end-to-end delivery benchmark: checks signatures, records arrivals.
        .executableTarget(
            name: "WebhookReceiver",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Benchmarks/WebhookReceiver"
        ),

        .testTarget(name: "BatchGateCoreTests", dependencies: ["BatchGateCore"]),
        .testTarget(
            name: "BatchGateConfigTests",
            dependencies: ["BatchGateConfig", "BatchGateCore"]
        ),
        .testTarget(
            name: "BatchGateTransportTests",
            dependencies: [
                "BatchGateTransport", "BatchGateCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BatchGateWebhooksTests",
            dependencies: [
                "BatchGateWebhooks", "BatchGateCore", "BatchGateTransport", "BatchGateTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "BatchGateTestSupport",
            dependencies: [
                "BatchGateCore", "BatchGatePostgresStore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BatchGateTestSupport"
        ),
        .testTarget(
            name: "BatchGateStoreTests",
            dependencies: [
                "BatchGateStore", "BatchGatePostgresStore", "BatchGateCore", "BatchGateTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BatchGateProvidersTests",
            dependencies: [
                "BatchGateProviders", "BatchGateCore", "BatchGateSimulators", "BatchGateTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "BatchGateServerTests",
            dependencies: [
                "BatchGateServer", "BatchGateSimulators", "BatchGateCore", "BatchGateTransport",
                "BatchGateStore", "BatchGatePostgresStore", "BatchGateWebhooks", "BatchGateTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The command line client's pure logic (progress drawing), kept apart so tests can import it.
        .target(name: "BatchGateClient", dependencies: ["BatchGateCore"]),
        .testTarget(name: "BatchGateClientTests", dependencies: ["BatchGateClient", "BatchGateCore"]),
    ]
)

// Fuzzing (Fuzz/README.md): entry points that feed arbitrary bytes through the gateway's decoders, the
// libFuzzer drivers that run them (built instrumented by scripts/fuzz.sh), and the replay of the
// checked-in corpora in every `swift test`. The drivers are split so the decoder one stays small.
package.products.append(contentsOf: [
    .executable(name: "batchgate-fuzz", targets: ["BatchGateFuzzDriver"]),
    .executable(name: "batchgate-fuzz-server", targets: ["BatchGateFuzzServerDriver"]),
])
package.targets.append(contentsOf: [
    .target(name: "CBatchGateFuzzDriver", path: "Fuzz/CDriver"),
    .target(
        name: "BatchGateFuzzTargets",
        dependencies: [
            "BatchGateCore", "BatchGateConfig", "BatchGateProviders", "CBatchGateFuzzDriver",
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Fuzz/Targets"
    ),
    .target(
        name: "BatchGateFuzzServerTargets",
        dependencies: [
            "BatchGateFuzzTargets", "BatchGateCore", "BatchGateProviders", "BatchGateServer", "BatchGateTransport",
            "BatchGateWebhooks", .product(name: "Logging", package: "swift-log"),
        ],
        path: "Fuzz/ServerTargets"
    ),
    .executableTarget(name: "BatchGateFuzzDriver", dependencies: ["BatchGateFuzzTargets"], path: "Fuzz/Driver"),
    .executableTarget(
        name: "BatchGateFuzzServerDriver",
        dependencies: ["BatchGateFuzzTargets", "BatchGateFuzzServerTargets"],
        path: "Fuzz/ServerDriver"
    ),
    .testTarget(
        name: "BatchGateFuzzTests",
        dependencies: ["BatchGateFuzzTargets", "BatchGateFuzzServerTargets"]
    ),
])

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + upcoming + strict
}
