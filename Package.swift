// swift-tools-version: 6.1
import CompilerPluginSupport
import PackageDescription

/// The executables that run the pipeline allocate with jemalloc (Debian's
/// libjemalloc-dev), which replaces malloc for the whole process. A unit, a writer and a
/// replay allocate on one thread and free on another at every change (a message made by
/// the consumer's thread and dropped by the folding one, a frame made by the putting
/// thread and dropped once acknowledged), which glibc's allocator pays for in arena locks
/// and consolidation: measured on the project's machine, jemalloc made the pump, the
/// writer, replay and cold start 10-40% faster (docs/benchmarks.md). The libraries leave
/// the choice to the service that links them.
let pipelineAllocator: [LinkerSetting] = [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]

let package = Package(
    name: "Pumphouse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pumphouse", targets: ["PumphouseCLI"]),
        .executable(name: "ticketing", targets: ["TicketingCLI"]),
        .executable(name: "auction", targets: ["AuctionCLI"]),
        // The schema gate alone, for other repositories' CI (built with --static-swift-stdlib).
        .executable(name: "pumphouse-schema", targets: ["SchemaGateCLI"]),
        .library(name: "PumphouseKafka", targets: ["PumphouseKafka"]),
        .library(name: "PumphousePostgres", targets: ["PumphousePostgres"]),
        .library(name: "PumphouseContracts", targets: ["PumphouseContracts"]),
        // What a user's own service builds on: a pipeline file, processing units in
        // their own executable, writers with custom mappers, data readers.
        .library(name: "PumphousePipeline", targets: ["PumphousePipeline"]),
        .library(name: "PumphouseUnit", targets: ["PumphouseUnit"]),
        .library(name: "PumphouseWriter", targets: ["PumphouseWriter"]),
        .library(name: "PumphouseReader", targets: ["PumphouseReader"]),
        // A unit's routing tables over HTTP, for a service that serves its own API.
        .library(name: "PumphouseUnitHTTP", targets: ["PumphouseUnitHTTP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-syntax", from: "603.0.1"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Thin C layers. Debian's headers are the compile-time contract; the runtime
        // librdkafka may be newer (see deploy/local/stack and docs/operations.md).
        .systemLibrary(
            name: "CRDKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(name: "CMalloc"),
        .target(name: "CCRC32C"),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "PumphouseBlocking",
            dependencies: [.product(name: "NIOPosix", package: "swift-nio")]
        ),
        .target(
            name: "PumphouseKafka",
            dependencies: [
                "CRDKafka",
                "PumphouseBlocking",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PumphousePostgres",
            dependencies: [
                "CLibPQ",
                "PumphouseBlocking",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PumphouseContracts",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "PumphousePipeline",
            dependencies: ["PumphouseContracts", "PumphouseKafka", "PumphousePostgres"]
        ),
        .target(
            name: "PumphouseReplay",
            dependencies: ["PumphouseWriter", "PumphousePipeline", "PumphouseContracts", "PumphouseKafka", "PumphousePostgres"]
        ),
        // The compiler plugin behind `@CacheFields`: it runs at build time only, so no
        // unit or service links swift-syntax. The expansions are a library of their own
        // so that their tests need not depend on the macro target, which would make
        // SwiftPM build every test target and its dependencies twice (once for the host).
        .target(
            name: "PumphouseUnitMacroExpansion",
            dependencies: [
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxBuilder", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftDiagnostics", package: "swift-syntax"),
            ]
        ),
        .macro(
            name: "PumphouseUnitMacros",
            dependencies: [
                "PumphouseUnitMacroExpansion",
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        .target(
            name: "PumphouseUnit",
            dependencies: [
                "CCRC32C",
                "CMalloc",
                "PumphouseBlocking",
                "PumphouseContracts",
                "PumphouseUnitMacros",
                "PumphouseKafka",
                "PumphousePipeline",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "PumphouseLoad",
            dependencies: [
                "PumphouseContracts",
                "PumphouseUnit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "PumphouseObservability",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PumphouseUnitHTTP",
            dependencies: [
                "PumphouseUnit",
                "PumphouseContracts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "PumphouseWriter",
            dependencies: [
                "PumphousePipeline",
                "PumphouseContracts",
                "PumphouseKafka",
                "PumphousePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "PumphouseReader",
            dependencies: [
                "CMalloc",
                "PumphousePipeline",
                "PumphouseContracts",
                "PumphouseKafka",
                "PumphousePostgres",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The schema gate's commands and report formats, shared by `pumphouse schema` and
        // `pumphouse-schema`: nothing but the contracts module and argument parsing.
        .target(
            name: "PumphouseSchemaGate",
            dependencies: [
                "PumphouseContracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "SchemaGateCLI",
            dependencies: ["PumphouseSchemaGate", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(
            name: "PumphouseCommandLine",
            dependencies: [
                "CMalloc",
                "PumphousePipeline",
                "PumphouseKafka",
                "PumphousePostgres",
                "PumphouseUnit",
                "PumphouseUnitHTTP",
                "PumphouseObservability",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "PumphouseCLI",
            dependencies: [
                "PumphouseBlocking",
                "PumphouseCommandLine",
                "PumphouseKafka",
                "PumphousePostgres",
                "PumphouseContracts",
                "PumphousePipeline",
                "PumphouseWriter",
                "PumphouseObservability",
                "PumphouseLoad",
                "PumphouseReplay",
                "PumphouseReader",
                "PumphouseUnit",
                "PumphouseSchemaGate",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            linkerSettings: pipelineAllocator
        ),
        .target(
            name: "Ticketing",
            dependencies: [
                "PumphouseUnit",
                "PumphouseUnitHTTP",
                "PumphousePostgres",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                "PumphouseContracts",
                "PumphouseObservability",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .target(
            name: "Auctions",
            dependencies: [
                "PumphouseUnit",
                "PumphouseUnitHTTP",
                "PumphouseContracts",
                "PumphouseObservability",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "AuctionCLI",
            dependencies: [
                "Auctions",
                "PumphouseUnit",
                "PumphouseCommandLine",
                "PumphouseObservability",
                "PumphousePipeline",
                "PumphousePostgres",
                "PumphouseReplay",
                "PumphouseContracts",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            linkerSettings: pipelineAllocator
        ),
        .executableTarget(
            name: "TicketingCLI",
            dependencies: [
                "Ticketing",
                "PumphouseUnit",
                "PumphouseUnitHTTP",
                "PumphouseWriter",
                "PumphouseCommandLine",
                "PumphouseReplay",
                "PumphousePostgres",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            linkerSettings: pipelineAllocator
        ),
        .target(
            name: "PumphouseTestSupport",
            dependencies: [
                "PumphouseContracts", "PumphouseKafka", "PumphousePostgres", "CRDKafka", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Tests/PumphouseTestSupport"
        ),
        .testTarget(
            name: "PumphouseKafkaTests",
            dependencies: ["PumphouseKafka", "PumphouseBlocking", "CRDKafka", "PumphouseTestSupport"]
        ),
        .testTarget(
            name: "PumphousePostgresTests",
            dependencies: ["PumphousePostgres", "PumphouseTestSupport"]
        ),
        .testTarget(
            name: "PumphousePipelineTests",
            dependencies: ["PumphousePipeline", "PumphouseContracts"]
        ),
        .testTarget(
            name: "PumphouseWriterTests",
            dependencies: ["PumphouseWriter", "PumphouseReplay", "PumphousePipeline", "PumphouseContracts", "PumphouseKafka", "PumphousePostgres", "PumphouseLoad", "PumphouseTestSupport"]
        ),
        .testTarget(
            name: "PumphouseUnitTests",
            dependencies: ["CRDKafka", "PumphouseUnit", "PumphouseReader", "PumphouseReplay", "PumphouseLoad", "PumphouseWriter", "PumphouseContracts", "PumphouseKafka", "PumphousePostgres", "PumphousePipeline", "PumphouseTestSupport"]
        ),
        .testTarget(
            name: "PumphouseUnitMacroExpansionTests",
            dependencies: [
                "PumphouseUnitMacroExpansion",
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacroExpansion", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacrosGenericTestSupport", package: "swift-syntax"),
            ]
        ),
        .testTarget(
            name: "PumphouseUnitHTTPTests",
            dependencies: [
                "PumphouseUnitHTTP",
                "PumphouseTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "AuctionTests",
            dependencies: [
                "Auctions",
                "PumphouseUnitHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                "PumphouseTestSupport",
                "PumphouseContracts",
                "PumphouseUnit",
                "PumphouseWriter",
                "PumphousePostgres",
                "PumphouseKafka",
                "PumphousePipeline",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "TicketingTests",
            dependencies: [
                "Ticketing",
                "PumphouseUnitHTTP",
                "PumphouseObservability",
                "PumphouseTestSupport",
                "PumphouseContracts",
                "PumphouseKafka",
                "PumphousePipeline",
                "PumphousePostgres",
                "PumphouseUnit",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(
            name: "PumphouseCLITests",
            dependencies: [
                "PumphouseTestSupport", "PumphouseCLI", "PumphouseCommandLine", "PumphouseContracts", "PumphouseKafka", "PumphousePipeline",
                "PumphousePostgres", "PumphouseSchemaGate", .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "PumphouseSchemaGateTests",
            dependencies: ["PumphouseSchemaGate", "PumphouseContracts"]
        ),
        .testTarget(
            name: "PumphouseContractsTests",
            dependencies: [
                "PumphouseContracts",
                "PumphouseTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Benchmarks run with `make bench`, never as tests: in-process microbenchmarks through
// `swift package benchmark`, system benchmarks through the `pumphouse-bench` harness.
package.products += [.executable(name: "pumphouse-bench", targets: ["PumphouseBench"])]
package.targets += [
    .executableTarget(
        name: "PumphouseBench",
        dependencies: [
            "CRDKafka",
            "PumphouseBlocking",
            "PumphouseCommandLine",
            "PumphouseUnit",
            "PumphouseLoad",
            "PumphouseContracts",
            "PumphousePipeline",
            "PumphouseKafka",
            "PumphousePostgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        path: "Benchmarks/PumphouseBench",
        linkerSettings: pipelineAllocator
    ),
    .testTarget(
        name: "PumphouseBenchTests",
        dependencies: ["PumphouseBench"]
    ),
    .executableTarget(
        name: "ContractCodecBenchmarks",
        dependencies: [
            "PumphouseContracts",
            .product(name: "Benchmark", package: "benchmark"),
        ],
        path: "Benchmarks/ContractCodecBenchmarks",
        // Allocating as the executables do (the interposer counts allocations either way).
        linkerSettings: pipelineAllocator,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
    .executableTarget(
        name: "UnitBenchmarks",
        dependencies: [
            "PumphouseUnit",
            "PumphouseKafka",
            "PumphouseLoad",
            "PumphouseContracts",
            "PumphousePipeline",
            .product(name: "Benchmark", package: "benchmark"),
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Benchmarks/UnitBenchmarks",
        // Allocating as the executables do (the interposer counts allocations either way).
        linkerSettings: pipelineAllocator,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    ),
]
