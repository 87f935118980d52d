/// An age such as `24h`, as given to `pgrelay cleanup --older-than`.
///
/// A number followed by a unit: `s`, `m`, `h`, `d` or `w`. Several parts add up: `1d12h`.
public struct RetentionAge: Equatable, Sendable, CustomStringConvertible {
    public var seconds: Int64
    public var text: String
    /// 100 years: any longer age would reach before the first commit, or past what timestamps hold.
    static let longest: Int64 = 100 * 365 * 86_400 + 25 * 86_400

    public init(parsing text: String) throws {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var total: Int64 = 0
        var digits = ""
        func fail() -> RetentionAgeError {
            RetentionAgeError(description: "'\(text)' is not an age; write a number and a unit, e.g. 90m, 24h, 7d (units: s, m, h, d, w)")
        }
        for c in text {
            if c.isASCII, c.isNumber {
                digits.append(c)
            } else if let unit = units[c], let n = Int64(digits) {
                let (product, overflow1) = n.multipliedReportingOverflow(by: unit)
                let (sum, overflow2) = total.addingReportingOverflow(product)
                guard !overflow1, !overflow2 else { throw fail() }
                total = sum
                digits = ""
            } else {
                throw fail()
            }
        }
        guard digits.isEmpty, total > 0 else { throw fail() }
        guard total <= Self.longest else {
            throw RetentionAgeError(description: "'\(text)' is longer than pgrelay keeps anything for; an age is at most 100 years (5218w)")
        }
        self.seconds = total
        self.text = text
    }

    public var description: String { text }
}

public struct RetentionAgeError: Error, Equatable, CustomStringConvertible {
    public var description: String
}
