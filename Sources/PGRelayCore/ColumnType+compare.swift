import Foundation

extension ColumnType {
    /// Why `operand` is not a value of this type, or nil when it is: a stream whose filter
    /// compares a column with something Postgres would refuse is refused when it starts.
    public func problem(with operand: String) -> String? {
        switch self {
        case .integer(let bits):
            guard let value = Int64(operand.trimmingCharacters(in: .whitespaces)) else {
                return "'\(operand)' is not a whole number (the column is int\(bits / 8))"
            }
            let limit = bits == 64 ? Int64.max : (Int64(1) << (bits - 1)) - 1
            return value > limit || value < -limit - 1 ? "'\(operand)' is out of range for int\(bits / 8)" : nil
        case .exact:
            return ExactDecimal(operand) == nil ? "'\(operand)' is not a number (the column is numeric)" : nil
        case .float4:
            guard let value = FloatingText.float(operand) else { return "'\(operand)' is not a number (the column is real)" }
            return value.isInfinite && !FloatingText.spellsInfinity(operand) ? "'\(operand)' is out of range for real" : nil
        case .float8:
            guard let value = FloatingText.double(operand) else { return "'\(operand)' is not a number (the column is double precision)" }
            return value.isInfinite && !FloatingText.spellsInfinity(operand) ? "'\(operand)' is out of range for double precision" : nil
        case .timestamptz, .timestamp:
            return TimeText.microseconds(operand, keepZone: self == .timestamptz) == nil
                ? "'\(operand)' is not a time; write YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an optional Z or ±HH:MM, or infinity"
                : nil
        case .date:
            return TimeText.days(operand) == nil ? "'\(operand)' is not a date; write YYYY-MM-DD, or infinity" : nil
        case .uuid:
            return UUIDText.bytes(operand) == nil ? "'\(operand)' is not a uuid" : nil
        case .bool:
            return Self.boolean(operand) == nil ? "'\(operand)' is not a boolean; write true or false" : nil
        case .text, .paddedText, .caseInsensitiveText, .json:
            return nil
        }
    }

    /// How `value` (as the row's JSON has it) compares to `operand` under this type; nil when
    /// the value is null or is not a value of this type (then the JSON comparison applies).
    public func compare(_ value: JSONValue, _ operand: String) -> ComparisonResult? {
        guard let text = value.scalarText else { return nil }
        switch self {
        case .integer, .exact:
            guard let left = ExactDecimal(text), let right = ExactDecimal(operand) else { return nil }
            return Self.order(left, right)
        case .float4:
            guard let left = FloatingText.float(text), let right = FloatingText.float(operand) else { return nil }
            return FloatingText.order(Double(left), Double(right))
        case .float8:
            guard let left = FloatingText.double(text), let right = FloatingText.double(operand) else { return nil }
            return FloatingText.order(left, right)
        case .timestamptz, .timestamp:
            let keepZone = self == .timestamptz
            guard let left = TimeText.microseconds(text, keepZone: keepZone), let right = TimeText.microseconds(operand, keepZone: keepZone) else {
                return nil
            }
            return Self.order(left, right)
        case .date:
            guard let left = TimeText.days(text), let right = TimeText.days(operand) else { return nil }
            return Self.order(left, right)
        case .uuid:
            guard let left = UUIDText.bytes(text), let right = UUIDText.bytes(operand) else { return nil }
            return left == right ? .orderedSame : (left.lexicographicallyPrecedes(right) ? .orderedAscending : .orderedDescending)
        case .bool:
            guard let left = Self.boolean(text), let right = Self.boolean(operand) else { return nil }
            return left == right ? .orderedSame : (!left ? .orderedAscending : .orderedDescending)
        case .text:
            return Self.codePoints(text, operand)
        case .paddedText:
            return Self.codePoints(Self.trimmingTrailingSpaces(text), Self.trimmingTrailingSpaces(operand))
        case .caseInsensitiveText:
            return Self.codePoints(text.lowercased(), operand.lowercased())
        case .json:
            return nil
        }
    }

    static func order<T: Comparable>(_ left: T, _ right: T) -> ComparisonResult {
        left == right ? .orderedSame : (left < right ? .orderedAscending : .orderedDescending)
    }

    static func codePoints(_ left: String, _ right: String) -> ComparisonResult {
        let (l, r) = (Array(left.unicodeScalars), Array(right.unicodeScalars))
        return l == r ? .orderedSame : (l.lexicographicallyPrecedes(r) ? .orderedAscending : .orderedDescending)
    }

    static func trimmingTrailingSpaces(_ text: String) -> String {
        var scalars = Substring(text).unicodeScalars
        while scalars.last == " " { scalars.removeLast() }
        return String(scalars)
    }

    /// Postgres' boolean input: t/true/y/yes/on/1 and their opposites, any case.
    static func boolean(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "t", "true", "y", "yes", "on", "1": return true
        case "f", "false", "n", "no", "off", "0": return false
        default: return nil
        }
    }
}

/// A decimal number exactly as written, for comparison: sign, significant digits and the power
/// of ten of the first digit, so `1e1000` and 60-digit numerics compare exactly. NaN is above
/// every number and equal to itself; ±Infinity beyond every finite number (Postgres' numeric order).
struct ExactDecimal: Comparable {
    enum Kind: Int, Comparable {
        case negativeInfinity, finite, positiveInfinity, nan
        static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    var kind: Kind
    /// -1, 0 or 1.
    var sign = 0
    /// Significant digits, no leading or trailing zeros.
    var digits: [UInt8] = []
    /// The value is 0.d1d2d3... × 10^exponent.
    var exponent = 0

    init?(_ raw: String) {
        let text = raw.trimmingCharacters(in: .whitespaces)
        switch text.lowercased() {
        case "nan":
            kind = .nan
            return
        case "infinity", "+infinity", "inf", "+inf":
            kind = .positiveInfinity
            return
        case "-infinity", "-inf":
            kind = .negativeInfinity
            return
        default: kind = .finite
        }
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var all: [UInt8] = []
        var pointAt: Int?
        var sawDigit = false
        while let c = bytes.first, c != UInt8(ascii: "e"), c != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if c == UInt8(ascii: ".") {
                guard pointAt == nil else { return nil }
                pointAt = all.count
            } else if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                all.append(c - UInt8(ascii: "0"))
                sawDigit = true
            } else {
                return nil
            }
        }
        guard sawDigit else { return nil }
        var power = 0
        if !bytes.isEmpty {
            bytes = bytes.dropFirst()
            var exponentNegative = false
            if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
                exponentNegative = first == UInt8(ascii: "-")
                bytes = bytes.dropFirst()
            }
            guard !bytes.isEmpty, bytes.count <= 9, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
            power = Int(String(decoding: bytes, as: UTF8.self))! * (exponentNegative ? -1 : 1)
        }
        let integerDigits = pointAt ?? all.count
        guard let firstNonZero = all.firstIndex(where: { $0 != 0 }) else {
            sign = 0
            return
        }
        let lastNonZero = all.lastIndex(where: { $0 != 0 })!
        digits = Array(all[firstNonZero...lastNonZero])
        exponent = integerDigits - firstNonZero + power
        sign = negative ? -1 : 1
    }

    static func < (a: ExactDecimal, b: ExactDecimal) -> Bool {
        if a.kind != .finite || b.kind != .finite { return a.kind < b.kind }
        if a.sign != b.sign { return a.sign < b.sign }
        if a.sign == 0 { return false }
        let magnitudeLess: Bool
        if a.exponent != b.exponent {
            magnitudeLess = a.exponent < b.exponent
        } else if a.digits == b.digits {
            return false
        } else {
            magnitudeLess = a.digits.lexicographicallyPrecedes(b.digits)
        }
        return a.sign > 0 ? magnitudeLess : !magnitudeLess
    }

    static func == (a: ExactDecimal, b: ExactDecimal) -> Bool {
        a.kind == b.kind && (a.kind != .finite || (a.sign == b.sign && a.digits == b.digits && (a.sign == 0 || a.exponent == b.exponent)))
    }
}

/// Postgres' float input and order.
enum FloatingText {
    static func double(_ raw: String) -> Double? {
        let text = raw.trimmingCharacters(in: .whitespaces)
        switch text.lowercased() {
        case "nan": return .nan
        case "infinity", "+infinity", "inf", "+inf": return .infinity
        case "-infinity", "-inf": return -.infinity
        default:
            guard !text.isEmpty, text.allSatisfy({ "0123456789.-+eE".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func float(_ raw: String) -> Float? {
        guard let double = double(raw) else { return nil }
        if double.isNaN || double.isInfinite { return Float(double) }
        return Float(raw.trimmingCharacters(in: .whitespaces))
    }

    static func spellsInfinity(_ raw: String) -> Bool { raw.lowercased().contains("inf") }

    /// NaN equals NaN and sorts above everything; -0 equals 0.
    static func order(_ left: Double, _ right: Double) -> ComparisonResult {
        switch (left.isNaN, right.isNaN) {
        case (true, true): return .orderedSame
        case (true, false): return .orderedDescending
        case (false, true): return .orderedAscending
        default: return left == right ? .orderedSame : (left < right ? .orderedAscending : .orderedDescending)
        }
    }
}

/// ISO-8601 dates and times as Postgres prints them (and the forms a filter may write), as
/// microseconds or days since 1970-01-01, with ±infinity beyond every time.
enum TimeText {
    static func microseconds(_ raw: String, keepZone: Bool) -> Int64? {
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "infinity" || text == "+infinity" { return Int64.max }
        if text == "-infinity" { return Int64.min }
        let chars = Array(text.utf8)
        guard let (days, afterDate) = date(chars) else { return nil }
        var micros = Int64(days) * 86_400_000_000
        var i = afterDate
        if i == chars.count { return micros }
        guard chars[i] == UInt8(ascii: "t") || chars[i] == UInt8(ascii: " ") else { return nil }
        i += 1
        guard let hour = number(chars, &i, 2), hour <= 24, i < chars.count, chars[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        guard let minute = number(chars, &i, 2), minute < 60 else { return nil }
        var second = 0
        var fraction: Int64 = 0
        if i < chars.count, chars[i] == UInt8(ascii: ":") {
            i += 1
            guard let s = number(chars, &i, 2), s < 60 else { return nil }
            second = s
            if i < chars.count, chars[i] == UInt8(ascii: ".") {
                i += 1
                var digits = 0
                while i < chars.count, chars[i] >= UInt8(ascii: "0"), chars[i] <= UInt8(ascii: "9") {
                    // Postgres rounds to microseconds; more digits than that are refused here.
                    guard digits < 6 else { return nil }
                    fraction = fraction * 10 + Int64(chars[i] - UInt8(ascii: "0"))
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { return nil }
                for _ in digits..<6 { fraction *= 10 }
            }
        }
        guard hour < 24 || (minute == 0 && second == 0 && fraction == 0) else { return nil }
        micros += Int64(hour * 3600 + minute * 60 + second) * 1_000_000 + fraction
        if i == chars.count { return micros }
        var offset = 0
        if chars[i] == UInt8(ascii: "z") {
            i += 1
        } else if chars[i] == UInt8(ascii: "+") || chars[i] == UInt8(ascii: "-") {
            let negative = chars[i] == UInt8(ascii: "-")
            i += 1
            guard let hours = number(chars, &i, 2), hours <= 15 else { return nil }
            var minutes = 0
            if i < chars.count, chars[i] == UInt8(ascii: ":") { i += 1 }
            if i < chars.count {
                guard let m = number(chars, &i, 2), m < 60 else { return nil }
                minutes = m
            }
            offset = (hours * 60 + minutes) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard i == chars.count else { return nil }
        return keepZone ? micros - Int64(offset) * 60_000_000 : micros
    }

    static func days(_ raw: String) -> Int64? {
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "infinity" || text == "+infinity" { return Int64.max }
        if text == "-infinity" { return Int64.min }
        let chars = Array(text.utf8)
        guard let (days, end) = date(chars), end == chars.count else { return nil }
        return Int64(days)
    }

    /// `YYYY-MM-DD` (years 1-9999) at the start: days since 1970-01-01 and where it ended.
    static func date(_ chars: [UInt8]) -> (Int, Int)? {
        var i = 0
        guard let year = number(chars, &i, 4), year >= 1, i < chars.count, chars[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let month = number(chars, &i, 2), (1...12).contains(month), i < chars.count, chars[i] == UInt8(ascii: "-") else { return nil }
        i += 1
        guard let day = number(chars, &i, 2), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return (daysFromCivil(year, month, day), i)
    }

    static func number(_ chars: [UInt8], _ i: inout Int, _ width: Int) -> Int? {
        guard i + width <= chars.count else { return nil }
        var value = 0
        for c in chars[i..<(i + width)] {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
        }
        i += width
        return value
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Howard Hinnant's days_from_civil.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// A uuid's 16 bytes from its text, with or without hyphens or braces, any case.
enum UUIDText {
    static func bytes(_ raw: String) -> [UInt8]? {
        var text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        if text.hasPrefix("{"), text.hasSuffix("}") { text = String(text.dropFirst().dropLast()) }
        let hex = text.replacingOccurrences(of: "-", with: "")
        guard hex.utf8.count == 32 else { return nil }
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}
