import Foundation

/// A tenant's month: spending by category (with the previous month and the change), income against spending,
/// top merchants, end-of-month balances per account and the balance trend of the last six months. Amounts are
/// exact decimals written as strings (`"1234.50"`), in the account currency; posted transactions only (pending
/// ones excluded, removed ones never counted). Plaid's sign: a positive amount is money out (spending), a negative
/// one money in (income).
public struct MonthlyReport: Sendable, Codable, Equatable {
    public struct Category: Sendable, Codable, Equatable {
        public var category: String
        public var amount: String
        public var count: Int
        /// The previous month's spending in the category (`"0.00"` when none).
        public var previous: String
        /// `amount − previous`.
        public var change: String
        /// The change in percent of `previous`, one decimal; nil when the previous month had none.
        public var changePercent: String?
    }
    public struct Merchant: Sendable, Codable, Equatable {
        public var merchant: String
        public var amount: String
        public var count: Int
    }
    public struct Balance: Sendable, Codable, Equatable {
        public var account: String
        public var name: String
        /// Plaid's account type (`depository`, `credit`, `loan`, `investment`, …).
        public var type: String
        public var currency: String?
        /// The last balance observed before the month's end; nil when none was.
        public var endOfMonth: String?
    }
    public struct TrendPoint: Sendable, Codable, Equatable {
        public var month: String
        /// The sum of the depository accounts' end-of-month balances (cash; cards and loans owe, so they are left out).
        public var total: String
    }

    public var tenant: String
    public var month: String
    public var spending: String
    public var income: String
    /// `income − spending`.
    public var net: String
    public var byCategory: [Category]
    public var topMerchants: [Merchant]
    public var balances: [Balance]
    public var balanceTrend: [TrendPoint]

    // MARK: Formats

    /// `section,key,amount,count,previous,change,changePercent` rows; every figure of the JSON is in it.
    public var csv: String {
        var rows = [["section", "key", "amount", "count", "previous", "change", "changePercent"]]
        rows.append(["summary", "spending", spending, "", "", "", ""])
        rows.append(["summary", "income", income, "", "", "", ""])
        rows.append(["summary", "net", net, "", "", "", ""])
        for c in byCategory { rows.append(["category", c.category, c.amount, "\(c.count)", c.previous, c.change, c.changePercent ?? ""]) }
        for m in topMerchants { rows.append(["merchant", m.merchant, m.amount, "\(m.count)", "", "", ""]) }
        for b in balances { rows.append(["balance", b.account, b.endOfMonth ?? "", "", "", "", ""]) }
        for t in balanceTrend { rows.append(["trend", t.month, t.total, "", "", "", ""]) }
        return rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    /// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. A field that a spreadsheet
    /// would read as a formula (`=`, `+`, `-`, `@` first, not a number) gets a leading `'`.
    static func csvField(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@".contains(first), value.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) == nil { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Spending by category (horizontal bars) and the balance trend (a line), one SVG document.
    public var svg: String {
        let width = 640.0
        let barHeight = 22.0
        let top = 40.0
        let labelWidth = 170.0
        let categories = Array(byCategory.prefix(12))
        let maxAmount = categories.compactMap { Double($0.amount) }.max() ?? 0
        let barsBottom = top + Double(categories.count) * (barHeight + 6)
        let trendTop = barsBottom + 50
        let trendHeight = 140.0
        let height = trendTop + trendHeight + 40
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="16" y="24" font-size="16" font-weight="bold">\(Self.xml("Spending by category, \(month)"))</text>

            """
        for (i, c) in categories.enumerated() {
            let y = top + Double(i) * (barHeight + 6)
            let amount = Double(c.amount) ?? 0
            let w = maxAmount > 0 ? (width - labelWidth - 110) * amount / maxAmount : 0
            out += """
                <text x="16" y="\(Self.f(y + 15))">\(Self.xml(c.category))</text>
                <rect x="\(Self.f(labelWidth))" y="\(Self.f(y))" width="\(Self.f(max(w, 1)))" height="\(Self.f(barHeight))" fill="#4e79a7"/>
                <text x="\(Self.f(labelWidth + max(w, 1) + 6))" y="\(Self.f(y + 15))">\(Self.xml(c.amount))</text>

                """
        }
        if categories.isEmpty { out += "<text x=\"16\" y=\"\(Self.f(top + 15))\">no spending</text>\n" }
        out += "<text x=\"16\" y=\"\(Self.f(trendTop - 12))\" font-size=\"16\" font-weight=\"bold\">Balance trend</text>\n"
        let values = balanceTrend.compactMap { Double($0.total) }
        if values.count == balanceTrend.count, let lo = values.min(), let hi = values.max(), !values.isEmpty {
            let span = hi - lo == 0 ? 1 : hi - lo
            let step = values.count > 1 ? (width - 100) / Double(values.count - 1) : 0
            let points = values.enumerated().map { i, v in
                "\(Self.f(50 + Double(i) * step)),\(Self.f(trendTop + trendHeight - (v - lo) / span * trendHeight))"
            }
            out += "<polyline fill=\"none\" stroke=\"#e15759\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for (i, t) in balanceTrend.enumerated() {
                let x = Self.f(50 + Double(i) * step)
                let y = trendTop + trendHeight - (values[i] - lo) / span * trendHeight
                out += "<circle cx=\"\(x)\" cy=\"\(Self.f(y))\" r=\"3\" fill=\"#e15759\"/>\n"
                out += "<text x=\"\(x)\" y=\"\(Self.f(y - 8))\" text-anchor=\"middle\" font-size=\"10\">\(Self.xml(t.total))</text>\n"
                out += "<text x=\"\(x)\" y=\"\(Self.f(trendTop + trendHeight + 18))\" text-anchor=\"middle\">\(Self.xml(t.month))</text>\n"
            }
        }
        out += "</svg>\n"
        return out
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func xml(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // Characters XML 1.0 does not allow are dropped.
                if ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r" { continue }
                out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
