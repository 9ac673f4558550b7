/// Gives each transaction our category and says where it came from (`docs/plaid.md`, "Categorization"):
///
/// 1. **tenant**: the tenant's own rules (first match in the order given; `merchant` or `name` contains the
///    pattern, case-insensitive) override everything;
/// 2. **plaid**: Plaid's `personal_finance_category`, when its confidence is not `LOW` or `UNKNOWN`, through
///    ``plaidMapping`` (detailed first, then primary);
/// 3. **rule**: built-in keyword rules on the merchant and name; else `uncategorized`.
public struct Categorizer: Sendable {
    public enum Source: String, Sendable, Codable { case plaid, rule, tenant }

    /// Our categories.
    public static let categories: Set<String> = [
        "income", "transfer", "loan_payments", "bank_fees", "entertainment", "food_and_drink", "groceries", "shopping",
        "home", "healthcare", "personal_care", "services", "government", "transportation", "travel", "utilities",
        "rent", "uncategorized",
    ]

    /// Plaid `personal_finance_category` (detailed or primary) → our category.
    public static let plaidMapping: [String: String] = [
        "INCOME": "income", "TRANSFER_IN": "transfer", "TRANSFER_OUT": "transfer", "LOAN_PAYMENTS": "loan_payments",
        "BANK_FEES": "bank_fees", "ENTERTAINMENT": "entertainment", "FOOD_AND_DRINK": "food_and_drink",
        "FOOD_AND_DRINK_GROCERIES": "groceries", "GENERAL_MERCHANDISE": "shopping", "HOME_IMPROVEMENT": "home",
        "MEDICAL": "healthcare", "PERSONAL_CARE": "personal_care", "GENERAL_SERVICES": "services",
        "GOVERNMENT_AND_NON_PROFIT": "government", "TRANSPORTATION": "transportation", "TRAVEL": "travel",
        "RENT_AND_UTILITIES": "utilities", "RENT_AND_UTILITIES_RENT": "rent",
    ]

    /// Built-in rules, tried in order on the merchant then the name (upper-cased).
    public static let builtInRules: [(keyword: String, category: String)] = [
        ("PAYROLL", "income"), ("DIRECT DEP", "income"), ("SALARY", "income"), ("INTEREST PAYMENT", "income"),
        ("TRANSFER", "transfer"), ("ZELLE", "transfer"), ("VENMO", "transfer"),
        ("OVERDRAFT", "bank_fees"), ("ATM FEE", "bank_fees"),
        ("UBER", "transportation"), ("LYFT", "transportation"), ("SHELL", "transportation"), ("CHEVRON", "transportation"),
        ("AIRLINES", "travel"), ("HOTEL", "travel"), ("AIRBNB", "travel"),
        ("STARBUCKS", "food_and_drink"), ("COFFEE", "food_and_drink"), ("RESTAURANT", "food_and_drink"),
        ("MCDONALD", "food_and_drink"),
        ("WHOLE FOODS", "groceries"), ("SAFEWAY", "groceries"), ("KROGER", "groceries"), ("GROCERY", "groceries"),
        ("AMAZON", "shopping"), ("WALMART", "shopping"), ("TARGET", "shopping"), ("WM SUPERCENTER", "shopping"),
        ("NETFLIX", "entertainment"), ("SPOTIFY", "entertainment"),
        ("PHARMACY", "healthcare"), ("CVS", "healthcare"),
        ("RENT", "rent"), ("ELECTRIC", "utilities"), ("COMCAST", "utilities"), ("VERIZON", "utilities"),
    ]

    /// The tenant's rules, in the order they apply.
    public var tenantRules: [CategoryRule]
    let upperRules: [(CategoryRule, String)]

    public init(tenantRules: [CategoryRule] = []) {
        self.tenantRules = tenantRules
        self.upperRules = tenantRules.map { ($0, $0.pattern.uppercased()) }
    }

    /// The category and its source for one transaction.
    public func categorize(
        name: String, merchant: String?, plaidPrimary: String?, plaidDetailed: String?, confidence: String?
    ) -> (category: String, source: Source) {
        let upperName = name.uppercased()
        let upperMerchant = merchant?.uppercased()
        for (rule, pattern) in upperRules {
            let field = rule.field == .merchant ? upperMerchant : upperName
            if let field, field.contains(pattern) { return (rule.category, .tenant) }
        }
        if confidence != "LOW" && confidence != "UNKNOWN" {
            if let detailed = plaidDetailed, let mapped = Self.plaidMapping[detailed] { return (mapped, .plaid) }
            if let primary = plaidPrimary, let mapped = Self.plaidMapping[primary] { return (mapped, .plaid) }
        }
        for text in [upperMerchant, upperName] {
            guard let text else { continue }
            for (keyword, category) in Self.builtInRules where text.contains(keyword) { return (category, .rule) }
        }
        return ("uncategorized", .rule)
    }

    /// ``categorize(name:merchant:plaidPrimary:plaidDetailed:confidence:)`` for a Plaid transaction.
    public func categorize(_ t: PlaidTransaction) -> (category: String, source: Source) {
        categorize(
            name: t.name, merchant: t.merchantName, plaidPrimary: t.personalFinanceCategory?.primary,
            plaidDetailed: t.personalFinanceCategory?.detailed, confidence: t.personalFinanceCategory?.confidenceLevel)
    }
}
