import Testing

@testable import JobKit

@Suite("Redis URLs")
struct RedisURLTests {
    @Test("parses host, port, credentials and database")
    func full() throws {
        let url = try RedisURL("redis://app:s3cr%40t@cache.internal:6380/3")
        #expect(url.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(url.username == "app")
        #expect(url.password == "s3cr@t")
        #expect(url.database == 3)
        #expect(url.tls == nil)
    }

    @Test("defaults to port 6379 and database 0; password-only form")
    func defaults() throws {
        let url = try RedisURL("redis://:pw@localhost")
        #expect(url.endpoint == .tcp(host: "localhost", port: 6379))
        #expect(url.username == nil)
        #expect(url.password == "pw")
        #expect(url.database == 0)
    }

    @Test("rediss takes TLS options from the query")
    func tls() throws {
        let url = try RedisURL("rediss://h:7000?tls_ca_file=/ca.pem&tls_insecure_skip_verify=true")
        #expect(url.tls?.caFile == "/ca.pem")
        #expect(url.tls?.insecureSkipVerify == true)
    }

    @Test("redis+cluster:// lists seed nodes; its description masks the password; refusals name the reason")
    func cluster() throws {
        let url = try RedisURL("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(url.isCluster)
        #expect(url.clusterSeeds == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 7001), .tcp(host: "::1", port: 7002)])
        #expect(url.endpoint == .tcp(host: "10.0.0.1", port: 7000))
        #expect(url.description == "redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002")
        #expect(url.endpoint(forAttempt: 4) == .tcp(host: "10.0.0.2", port: 7001), "reconnects try the seeds in turn")
        #expect(try RedisURL("rediss+cluster://h:7000").tls != nil)
        #expect(try !RedisURL("redis://h:7000").isCluster)
        #expect(throws: RedisError.self) { try RedisURL("redis://h1:7000,h2:7001") }
        #expect(throws: RedisError.self) { try RedisURL("redis+cluster://h1:7000/2") }
        #expect(throws: RedisError.self) { try RedisURL("redis+cluster://h1:7000,") }
    }

    @Test("unix sockets")
    func unix() throws {
        let url = try RedisURL("unix:///run/redis.sock?db=2")
        #expect(url.endpoint == .unixSocket(path: "/run/redis.sock"))
        #expect(url.database == 2)
    }

    @Test("the password never appears in the description")
    func masked() throws {
        let url = try RedisURL("redis://user:hunter2@h:1/0")
        #expect(!url.description.contains("hunter2"))
        #expect(url.description == "redis://user:***@h:1/0")
        let config = RedisConfiguration(url: url)
        #expect(!"\(config.url)".contains("hunter2"))
    }

    @Test("bad URLs say what is wrong", arguments: ["localhost:6379", "http://x", "redis://h:99999", "redis://h/x", "redis://"])
    func invalid(text: String) {
        #expect {
            _ = try RedisURL(text)
        } throws: { error in
            (error as? RedisError)?.code == .invalidURL
        }
    }
}
