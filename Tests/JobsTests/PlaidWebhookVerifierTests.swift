import Crypto
import Foundation
import Testing
@testable import Jobs

@Suite("Plaid webhook verification")
struct PlaidWebhookVerifierTests {
    /// A verifier whose key source is the fixture's key set (what Plaid's endpoint answers), counting fetches.
    static func verifier(extra: [PlaidWebhookKey] = []) throws -> PlaidWebhookVerifier {
        let keys = Dictionary(uniqueKeysWithValues: ([try PlaidFixtures.verificationKey()] + extra).map { ($0.kid, $0) })
        return PlaidWebhookVerifier { kid in keys[kid] }
    }

    @Test("every signing vector of ../shared/fixtures/plaid/webhook_signing gets its verdict")
    func vectors() async throws {
        let file = try PlaidFixtures.json("webhook_signing/vectors.json")
        let vectors = try #require(file["vectors"] as? [[String: Any]])
        #expect(vectors.count == 10)
        let verifier = try Self.verifier()
        for vector in vectors {
            let name = vector["name"] as! String
            let body = Array(try PlaidFixtures.data("webhook_signing/\(vector["body_file"] as! String)"))
            let now = (vector["now"] as? NSNumber)?.intValue ?? Int(vector["now"] as! String)!
            let expected = vector["expect_valid"] as! Bool
            var verdict: Bool
            do {
                _ = try await verifier.verify(header: vector["plaid_verification"] as? String, body: body, now: now)
                verdict = true
            } catch {
                verdict = false
                switch (name, error) {
                case ("expired_iat_301s", .stale(301)), ("alg_hs256", .algorithm("HS256")), ("alg_none", .algorithm("none")),
                    ("unknown_kid", .unknownKey), ("body_tampered", .signature), ("body_reindented_4_spaces", .signature),
                    ("signed_by_other_key_same_kid", .signature):
                    break
                default: Issue.record("\(name): rejected for the wrong reason: \(error)")
                }
            }
            #expect(verdict == expected, "\(name)")
        }
        // The known key was fetched once and cached; the unknown kid was asked for (and refused); alg none/HS256
        // never reached the key source.
        #expect(await verifier.fetches == 2)
        // The unknown kid again: refused from the negative cache, without asking Plaid.
        let unknown = try #require(vectors.first { $0["name"] as? String == "unknown_kid" })
        await #expect(throws: PlaidWebhookVerifier.Rejection.self) {
            try await verifier.verify(
                header: unknown["plaid_verification"] as? String,
                body: Array(try PlaidFixtures.data("webhook_signing/\(unknown["body_file"] as! String)")), now: 1_790_000_100)
        }
        #expect(await verifier.fetches == 2)
    }

    @Test("a rotated key: a new kid is fetched once, then served from the cache; an expired key is refused")
    func rotation() async throws {
        let newKey = P256.Signing.PrivateKey()
        let raw = newKey.publicKey.x963Representation.dropFirst()
        let jwk = PlaidWebhookKey(
            alg: "ES256", crv: "P-256", kid: "rotated-1", kty: "EC", use: "sig", x: Base64URL.encode(raw.prefix(32)),
            y: Base64URL.encode(raw.suffix(32)), createdAt: 1_790_000_000, expiredAt: nil)
        var expired = jwk
        expired.kid = "expired-1"
        expired.expiredAt = 1_790_000_100
        let verifier = try Self.verifier(extra: [jwk, expired])
        let body = Array(#"{"webhook_type": "TRANSACTIONS"}"#.utf8)
        for i in 0..<3 {
            let header = try PlaidFixtures.sign(body, key: newKey, kid: "rotated-1", iat: 1_790_000_500 + i)
            let verified = try await verifier.verify(header: header, body: body, now: 1_790_000_510)
            #expect(verified.keyID == "rotated-1")
        }
        #expect(await verifier.fetches == 1)
        let old = try PlaidFixtures.signingKey()
        _ = try await verifier.verify(header: try PlaidFixtures.sign(body, key: old.key, kid: old.kid, iat: 1_790_000_500), body: body, now: 1_790_000_510)
        #expect(await verifier.fetches == 2)
        let header = try PlaidFixtures.sign(body, key: newKey, kid: "expired-1", iat: 1_790_000_500)
        await #expect(throws: PlaidWebhookVerifier.Rejection.unknownKey("expired-1 (expired)")) {
            try await verifier.verify(header: header, body: body, now: 1_790_000_510)
        }
        // A header signed by the right kid with another key does not verify.
        let rogue = try PlaidFixtures.sign(body, key: P256.Signing.PrivateKey(), kid: "rotated-1", iat: 1_790_000_500)
        await #expect(throws: PlaidWebhookVerifier.Rejection.signature("ES256 signature does not match")) {
            try await verifier.verify(header: rogue, body: body, now: 1_790_000_510)
        }
        await #expect(throws: PlaidWebhookVerifier.Rejection.malformed("no Plaid-Verification header")) {
            try await verifier.verify(header: nil, body: body, now: 1_790_000_510)
        }
    }
}

@Suite("Token cipher")
struct TokenCipherTests {
    static func key() -> String { Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }

    @Test("seals and opens; another row's context, a tampered byte or an unknown key do not open; rotation")
    func roundTrip() throws {
        let first = try TokenCipher(key: Self.key())
        let token = "access-sandbox-4b8a1d36-5f0e-4c6b-9a7e-2d1f0c3b9e51"
        let sealed = try first.seal(token, context: "plaid_items:a")
        #expect(!String(decoding: sealed.ciphertext, as: UTF8.self).contains("access-sandbox"))
        #expect(try first.open(sealed.ciphertext, keyID: sealed.keyID, context: "plaid_items:a") == token)
        #expect(throws: TokenCipherError.self) { try first.open(sealed.ciphertext, keyID: sealed.keyID, context: "plaid_items:b") }
        var tampered = sealed.ciphertext
        tampered[tampered.count / 2] ^= 1
        #expect(throws: TokenCipherError.self) { try first.open(tampered, keyID: sealed.keyID, context: "plaid_items:a") }
        let oldKey = Self.key()
        let old = try TokenCipher(key: oldKey)
        let oldSealed = try old.seal(token, context: "plaid_items:a")
        #expect(throws: TokenCipherError.self) { try first.open(oldSealed.ciphertext, keyID: oldSealed.keyID, context: "plaid_items:a") }
        let rotated = try TokenCipher(key: Self.key(), previous: [oldKey])
        #expect(try rotated.open(oldSealed.ciphertext, keyID: oldSealed.keyID, context: "plaid_items:a") == token)
        #expect(try rotated.seal(token, context: "x").keyID == rotated.keyID)
        #expect(throws: TokenCipherError.self) { try TokenCipher(key: "c2hvcnQ=") }
        #expect(!"\(rotated)".contains(oldKey))
    }
}

@Suite("Categorization")
struct CategorizerTests {
    @Test("tenant rules override Plaid's category, which beats the built-in rules; low confidence falls through")
    func order() {
        let plain = Categorizer()
        #expect(plain.categorize(name: "PURCHASE WM SUPERCENTER", merchant: "Walmart", plaidPrimary: "GENERAL_MERCHANDISE",
                                 plaidDetailed: "GENERAL_MERCHANDISE_SUPERSTORES", confidence: "VERY_HIGH") == ("shopping", .plaid))
        #expect(plain.categorize(name: "WHOLE FOODS", merchant: nil, plaidPrimary: "FOOD_AND_DRINK",
                                 plaidDetailed: "FOOD_AND_DRINK_GROCERIES", confidence: "HIGH") == ("groceries", .plaid))
        #expect(plain.categorize(name: "UBER 063015 SF**POOL**", merchant: nil, plaidPrimary: "TRAVEL", plaidDetailed: "X",
                                 confidence: "LOW") == ("transportation", .rule))
        #expect(plain.categorize(name: "MYSTERY", merchant: nil, plaidPrimary: nil, plaidDetailed: nil, confidence: nil)
            == ("uncategorized", .rule))
        let tenant = Categorizer(tenantRules: [CategoryRule(field: .merchant, pattern: "walmart", category: "groceries")])
        #expect(tenant.categorize(name: "PURCHASE WM SUPERCENTER", merchant: "Walmart", plaidPrimary: "GENERAL_MERCHANDISE",
                                  plaidDetailed: nil, confidence: "VERY_HIGH") == ("groceries", .tenant))
        for category in Categorizer.plaidMapping.values { #expect(Categorizer.categories.contains(category)) }
        for rule in Categorizer.builtInRules { #expect(Categorizer.categories.contains(rule.category)) }
    }

    @Test("fixture transactions decode with exact amounts and checked dates")
    func decoding() throws {
        let page = try JSONDecoder().decode(
            PlaidTransactionsSyncResponse.self, from: try PlaidFixtures.example("transactions_sync.response.page1.json"))
        #expect(page.added.count == 2 && page.hasMore)
        #expect("\(page.added[0].amount)" == "72.1")
        #expect(throws: (any Error).self) { try PlaidDate("2026-13-01") }
        #expect(throws: (any Error).self) { try PlaidDate("14/09/2026") }
        let accounts = try JSONDecoder().decode(PlaidAccountsResponse.self, from: try PlaidFixtures.example("accounts_get.response.json"))
        #expect(accounts.accounts.map(\.type.rawValue) == ["depository", "depository", "credit"])
        let odd = try JSONDecoder().decode(PlaidEnum<PlaidAccountType>.self, from: Data(#""crypto_wallet""#.utf8))
        #expect(!odd.isKnown && odd.rawValue == "crypto_wallet")
        let error = try JSONDecoder().decode(PlaidErrorBody.self, from: try PlaidFixtures.example("error.item_login_required.json"))
        #expect(PlaidAPIError(endpoint: "/transactions/sync", status: 400, body: error).disposition == .needsUser)
        let limit = try JSONDecoder().decode(PlaidErrorBody.self, from: try PlaidFixtures.example("error.transactions_sync_limit.json"))
        #expect(PlaidAPIError(endpoint: "/transactions/sync", status: 429, body: limit).disposition == .retryLater(.seconds(60)))
        let mutation = try JSONDecoder().decode(
            PlaidErrorBody.self, from: try PlaidFixtures.example("error.transactions_sync_mutation_during_pagination.json"))
        #expect(PlaidAPIError(endpoint: "/transactions/sync", status: 400, body: mutation).disposition == .restartSync)
        let down = try JSONDecoder().decode(PlaidErrorBody.self, from: try PlaidFixtures.example("error.institution_down.json"))
        if case .retryLater = PlaidAPIError(endpoint: "/accounts/balance/get", status: 400, body: down).disposition {} else {
            Issue.record("INSTITUTION_DOWN should retry later")
        }
        let fatal = PlaidErrorBody(errorType: "INVALID_INPUT", errorCode: "INVALID_ACCESS_TOKEN", errorMessage: "bad", displayMessage: nil, requestID: nil)
        #expect(PlaidAPIError(endpoint: "/item/get", status: 400, body: fatal).disposition == .fatal)
        #expect(PlaidAPIError(endpoint: "/item/get", status: nil, body: nil, transport: "timed out").disposition == .retry)
    }
}
