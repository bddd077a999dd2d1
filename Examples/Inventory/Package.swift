// swift-tools-version: 6.1
// A service built on Pumphouse the way a user's own would be: it depends on the
// Pumphouse package (here by path; from a repository, `.package(url:from:)`) and on
// the library products it uses. Two executables: a processing unit serving one cache
// over HTTP, and a data writer with a custom mapper.
import PackageDescription

let package = Package(
    name: "Inventory",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Pumphouse", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "InventoryUnit",
            dependencies: [
                .product(name: "PumphouseUnit", package: "Pumphouse"),
                .product(name: "PumphousePipeline", package: "Pumphouse"),
                .product(name: "PumphouseContracts", package: "Pumphouse"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "InventoryWriter",
            dependencies: [
                .product(name: "PumphouseWriter", package: "Pumphouse"),
                .product(name: "PumphousePipeline", package: "Pumphouse"),
                .product(name: "PumphousePostgres", package: "Pumphouse"),
                .product(name: "PumphouseContracts", package: "Pumphouse"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
