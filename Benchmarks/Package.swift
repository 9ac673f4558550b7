// swift-tools-version:6.1
import PackageDescription

// JobKit's benchmarks: a package of their own, so that the benchmark harness and its dependencies stay out of
// the main build. Run them with `scripts/redis-bench` (beside this file), which starts a throwaway Redis.

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "JobKitBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "JobKit", path: ".."),
        // 1.38.1 declares a default `RuntimeInterposer` trait that pulls in ordo-one/swift-runtime-interposer on
        // Linux with Swift 6.3; naming only `MallocInterposer` keeps the malloc metrics and prunes that package.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    ],
    targets: [
        // ordo-one benchmarks: `swift package benchmark`. The plugins only treat executable targets whose folder
        // sits directly in a folder named `Benchmarks` as benchmark suites, which this one does.
        .executableTarget(
            name: "RedisBenchmarks",
            dependencies: [
                .product(name: "JobKit", package: "JobKit"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "RedisBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "JobKit", package: "JobKit"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "EngineBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Plain executable that prints steady-state GET+SET throughput as JSON lines, for the ratios that
        // `scripts/redis-bench` computes against redis-benchmark. It lives under `Tools/`, not directly under
        // `Benchmarks/`, so that `swift package benchmark` without `--target` doesn't take it for a benchmark suite.
        .executableTarget(
            name: "RedisThroughput",
            dependencies: [.product(name: "JobKit", package: "JobKit")],
            path: "Tools/RedisThroughput",
            swiftSettings: swiftSettings
        ),
    ]
)
