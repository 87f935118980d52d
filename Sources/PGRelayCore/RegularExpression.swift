/// A regular expression for the `match` and `imatch` filter operators (Postgres' `~` and `~*`),
/// run in time linear in the row value's length: it is compiled to a small program and simulated
/// as a Thompson NFA (every possible state at once), never by backtracking, so a client's pattern
/// such as `(a+)+$` cannot take exponential time on a row that every writer's change passes.
///
/// The syntax is the common part of POSIX extended and Postgres' advanced expressions: literals,
/// `.`, bracket expressions (`[a-z_]`, `[^0-9]`, `[[:alpha:]]`), `\d \w \s \D \W \S`, `\` before
/// any punctuation, `^` and `$`, groups `( )` and `(?: )`, `|`, and `* + ?` and `{m}`, `{m,}`,
/// `{m,n}` (m, n ≤ 100). Back-references, lookaround and other `\` letters are refused with
/// a message. Like Postgres' `~`, a pattern matches anywhere in the value unless anchored.
/// Patterns are at most ``FilterOperator/maximumPatternLength`` characters; a program at most
/// ``maximumProgramSize`` steps, so a match costs at most that × the value's length.
public struct RegularExpression: Equatable, Sendable {
    public let source: String
    public let caseInsensitive: Bool
    let program: [Instruction]

    public static let maximumProgramSize = 2048
    static let maximumRepeat = 100

    enum Instruction: Equatable, Sendable {
        case scalar(Unicode.Scalar)
        case any
        case set(ScalarSet)
        case split(Int, Int)
        case jump(Int)
        case atStart
        case atEnd
        case match
    }

    /// Ranges of scalars, possibly negated.
    struct ScalarSet: Equatable, Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var negated = false

        func contains(_ scalar: Unicode.Scalar, caseInsensitive: Bool) -> Bool {
            func within(_ value: UInt32) -> Bool { ranges.contains { $0.contains(value) } }
            var found = within(scalar.value)
            if !found, caseInsensitive {
                found = RegularExpression.folded(scalar).contains { within($0.value) }
            }
            return found != negated
        }
    }

    indirect enum Node {
        case empty
        case scalar(Unicode.Scalar)
        case any
        case set(ScalarSet)
        case atStart
        case atEnd
        case concat([Node])
        case alternatives([Node])
        case repeated(Node, min: Int, max: Int?)
    }

    public init(_ source: String, caseInsensitive: Bool = false) throws(RegularExpressionError) {
        guard source.count <= FilterOperator.maximumPatternLength else {
            throw RegularExpressionError(
                message: "a regular expression may have at most \(FilterOperator.maximumPatternLength) characters (it has \(source.count))")
        }
        self.source = source
        self.caseInsensitive = caseInsensitive
        var parser = Parser(scalars: Array(source.unicodeScalars))
        let tree = try parser.parseAlternatives(depth: 0)
        guard parser.index == parser.scalars.count else { throw RegularExpressionError(message: "unmatched ')' in the regular expression") }
        var compiler = Compiler(caseInsensitive: caseInsensitive)
        try compiler.emit(tree)
        compiler.program.append(.match)
        program = compiler.program
    }

    public static func == (left: RegularExpression, right: RegularExpression) -> Bool {
        left.source == right.source && left.caseInsensitive == right.caseInsensitive
    }

    /// Whether the pattern matches somewhere in `text`.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current: [Int] = []
        var next: [Int] = []
        var mark = [Int](repeating: -1, count: program.count)
        var stack: [Int] = []
        // Adds `pc` and what it reaches without reading; true when that includes the match.
        func add(_ pc: Int, at position: Int, to list: inout [Int]) -> Bool {
            stack.append(pc)
            while let pc = stack.popLast() {
                guard mark[pc] != position else { continue }
                mark[pc] = position
                switch program[pc] {
                case .match:
                    return true
                case .jump(let target):
                    stack.append(target)
                case .split(let first, let second):
                    stack.append(second)
                    stack.append(first)
                case .atStart:
                    if position == 0 { stack.append(pc + 1) }
                case .atEnd:
                    if position == input.count { stack.append(pc + 1) }
                case .scalar, .any, .set:
                    list.append(pc)
                }
            }
            return false
        }
        for position in 0...input.count {
            // Unanchored: a match may start at every position.
            if add(0, at: position, to: &current) {
                stack.removeAll()
                return true
            }
            guard position < input.count else { break }
            let scalar = input[position]
            next.removeAll(keepingCapacity: true)
            for pc in current {
                let reads: Bool
                switch program[pc] {
                case .scalar(let expected):
                    reads = expected == scalar || (caseInsensitive && Self.folded(scalar).contains(expected))
                case .any:
                    reads = true
                case .set(let set):
                    reads = set.contains(scalar, caseInsensitive: caseInsensitive)
                default:
                    reads = false
                }
                if reads, add(pc + 1, at: position + 1, to: &next) {
                    stack.removeAll()
                    return true
                }
            }
            swap(&current, &next)
        }
        return false
    }

    /// A scalar's other cases (one scalar each), for `imatch`.
    static func folded(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        let upper = scalar.properties.uppercaseMapping.unicodeScalars
        return [lower.count == 1 ? lower.first : nil, upper.count == 1 ? upper.first : nil].compactMap { $0 }.filter { $0 != scalar }
    }

    struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0
        static let maximumDepth = 32

        var atEnd: Bool { index >= scalars.count }
        var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

        mutating func parseAlternatives(depth: Int) throws(RegularExpressionError) -> Node {
            guard depth < Self.maximumDepth else { throw RegularExpressionError(message: "groups nested deeper than \(Self.maximumDepth) levels") }
            var options = [try parseSequence(depth: depth)]
            while peek == "|" {
                index += 1
                options.append(try parseSequence(depth: depth))
            }
            return options.count == 1 ? options[0] : .alternatives(options)
        }

        mutating func parseSequence(depth: Int) throws(RegularExpressionError) -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                var atom = try parseAtom(depth: depth)
                while let quantifier = peek, "*+?{".unicodeScalars.contains(quantifier) {
                    if case .atStart = atom { throw RegularExpressionError(message: "'\(quantifier)' cannot repeat an anchor") }
                    if case .atEnd = atom { throw RegularExpressionError(message: "'\(quantifier)' cannot repeat an anchor") }
                    index += 1
                    switch quantifier {
                    case "*": atom = .repeated(atom, min: 0, max: nil)
                    case "+": atom = .repeated(atom, min: 1, max: nil)
                    case "?": atom = .repeated(atom, min: 0, max: 1)
                    default:
                        let (min, max) = try parseBounds()
                        atom = .repeated(atom, min: min, max: max)
                    }
                }
                items.append(atom)
            }
            return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
        }

        /// `{m}`, `{m,}`, `{m,n}` after the `{`.
        mutating func parseBounds() throws(RegularExpressionError) -> (Int, Int?) {
            func number() -> Int? {
                var digits = ""
                while let c = peek, ("0"..."9").contains(c) {
                    digits.unicodeScalars.append(c)
                    index += 1
                }
                return digits.isEmpty ? nil : Int(digits.prefix(4))
            }
            guard let min = number() else { throw RegularExpressionError(message: "'{' starts a repetition such as {2}, {2,} or {2,5}") }
            var max: Int? = min
            if peek == "," {
                index += 1
                max = number()
            }
            guard peek == "}" else { throw RegularExpressionError(message: "a repetition such as {2,5} ends with '}'") }
            index += 1
            guard min <= RegularExpression.maximumRepeat, (max ?? 0) <= RegularExpression.maximumRepeat else {
                throw RegularExpressionError(message: "a repetition count is at most \(RegularExpression.maximumRepeat)")
            }
            if let max, max < min { throw RegularExpressionError(message: "in {\(min),\(max)} the second count is smaller than the first") }
            return (min, max)
        }

        mutating func parseAtom(depth: Int) throws(RegularExpressionError) -> Node {
            let c = scalars[index]
            index += 1
            switch c {
            case "(":
                if peek == "?" {
                    guard index + 1 < scalars.count, scalars[index + 1] == ":" else {
                        throw RegularExpressionError(message: "only (?: ...) groups are supported, not lookaround or options")
                    }
                    index += 2
                }
                let inner = try parseAlternatives(depth: depth + 1)
                guard peek == ")" else { throw RegularExpressionError(message: "missing ')' in the regular expression") }
                index += 1
                return inner
            case ".": return .any
            case "^": return .atStart
            case "$": return .atEnd
            case "[": return .set(try parseBracket())
            case "\\": return try parseEscape()
            case "*", "+", "?", "{":
                throw RegularExpressionError(message: "'\(c)' has nothing to repeat")
            default: return .scalar(c)
            }
        }

        mutating func parseEscape() throws(RegularExpressionError) -> Node {
            guard let c = peek else { throw RegularExpressionError(message: "the regular expression ends with '\\'") }
            index += 1
            if let set = Self.shorthand(c) { return .set(set) }
            guard !c.properties.isAlphabetic, !("0"..."9").contains(c) else {
                throw RegularExpressionError(message: "'\\\(c)' is not supported; use \\d \\w \\s (or their capitals), or \\ before punctuation")
            }
            return .scalar(c)
        }

        static func shorthand(_ c: Unicode.Scalar) -> ScalarSet? {
            let digits: [ClosedRange<UInt32>] = [48...57]
            let word: [ClosedRange<UInt32>] = [48...57, 65...90, 95...95, 97...122]
            let space: [ClosedRange<UInt32>] = [9...13, 32...32]
            switch c {
            case "d": return ScalarSet(ranges: digits)
            case "D": return ScalarSet(ranges: digits, negated: true)
            case "w": return ScalarSet(ranges: word)
            case "W": return ScalarSet(ranges: word, negated: true)
            case "s": return ScalarSet(ranges: space)
            case "S": return ScalarSet(ranges: space, negated: true)
            default: return nil
            }
        }

        /// After `[`: `^` negates; `]` first is literal; ranges `a-z`; `[:class:]`; `\` escapes.
        mutating func parseBracket() throws(RegularExpressionError) -> ScalarSet {
            var set = ScalarSet()
            if peek == "^" {
                set.negated = true
                index += 1
            }
            var first = true
            while true {
                guard let c = peek else { throw RegularExpressionError(message: "missing ']' in the regular expression") }
                if c == "]" && !first {
                    index += 1
                    return set
                }
                first = false
                index += 1
                var low: Unicode.Scalar = c
                if c == "[", peek == ":" {
                    let rest = String(String.UnicodeScalarView(scalars[index...].prefix(10)))
                    guard let end = rest.range(of: ":]") else { throw RegularExpressionError(message: "a class such as [:alpha:] ends with ':]'") }
                    let name = String(rest[rest.index(after: rest.startIndex)..<end.lowerBound])
                    guard let ranges = Self.namedClass(name) else {
                        throw RegularExpressionError(
                            message: "unknown class [:\(name):]; use alpha, digit, alnum, upper, lower, space, punct or xdigit")
                    }
                    set.ranges += ranges
                    index += name.unicodeScalars.count + 3
                    continue
                }
                if c == "\\" {
                    guard let escaped = peek else { throw RegularExpressionError(message: "missing ']' in the regular expression") }
                    index += 1
                    if let shorthand = Self.shorthand(escaped), !shorthand.negated {
                        set.ranges += shorthand.ranges
                        continue
                    }
                    low = escaped
                }
                if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                    index += 1
                    var high = scalars[index]
                    index += 1
                    if high == "\\", let escaped = peek {
                        high = escaped
                        index += 1
                    }
                    guard low.value <= high.value else { throw RegularExpressionError(message: "the range \(low)-\(high) is backwards") }
                    set.ranges.append(low.value...high.value)
                } else {
                    set.ranges.append(low.value...low.value)
                }
            }
        }

        static func namedClass(_ name: String) -> [ClosedRange<UInt32>]? {
            switch name {
            case "alpha": return [65...90, 97...122]
            case "digit": return [48...57]
            case "alnum": return [48...57, 65...90, 97...122]
            case "upper": return [65...90]
            case "lower": return [97...122]
            case "space": return [9...13, 32...32]
            case "punct": return [33...47, 58...64, 91...96, 123...126]
            case "xdigit": return [48...57, 65...70, 97...102]
            default: return nil
            }
        }
    }

    struct Compiler {
        let caseInsensitive: Bool
        var program: [Instruction] = []

        mutating func append(_ instruction: Instruction) throws(RegularExpressionError) {
            guard program.count < RegularExpression.maximumProgramSize else {
                throw RegularExpressionError(
                    message:
                        "the regular expression is too large once its repetitions are expanded (at most \(RegularExpression.maximumProgramSize) steps)"
                )
            }
            program.append(instruction)
        }

        mutating func emit(_ node: Node) throws(RegularExpressionError) {
            switch node {
            case .empty: break
            case .scalar(let c): try append(.scalar(c))
            case .any: try append(.any)
            case .set(let set): try append(.set(set))
            case .atStart: try append(.atStart)
            case .atEnd: try append(.atEnd)
            case .concat(let items):
                for item in items { try emit(item) }
            case .alternatives(let options):
                // split L1, next; L1: option; jump end; next: split ...; last option; end:
                var jumps: [Int] = []
                for (offset, option) in options.enumerated() {
                    if offset < options.count - 1 {
                        let split = program.count
                        try append(.split(split + 1, -1))
                        try emit(option)
                        jumps.append(program.count)
                        try append(.jump(-1))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(option)
                    }
                }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .repeated(let inner, let min, let max):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // Each optional copy may be skipped to the end.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        try append(.split(program.count + 1, -1))
                        try emit(inner)
                    }
                    for split in splits { program[split] = .split(split + 1, program.count) }
                } else {
                    let loop = program.count
                    try append(.split(loop + 1, -1))
                    try emit(inner)
                    try append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }
}

/// Why a regular expression was refused, in words that say what to change.
public struct RegularExpressionError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
