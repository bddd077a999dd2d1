import PumphouseUnitMacroExpansion
import SwiftSyntax
import SwiftSyntaxMacroExpansion
import SwiftSyntaxMacrosGenericTestSupport
import Testing

/// What `@CacheFields` writes, checked as text: the conversions it generates are run by
/// `CacheFieldsTests` in PumphouseUnitTests.
@Suite("@CacheFields expansion")
struct CacheFieldsMacroTests {
    let macros = ["CacheFields": MacroSpec(type: CacheFieldsExpansion.self, conformances: ["CacheFieldObject"])]

    func expand(
        _ source: String, _ expanded: String, diagnostics: [DiagnosticSpec] = [],
        fileID: StaticString = #fileID, filePath: StaticString = #filePath, line: UInt = #line, column: UInt = #column
    ) {
        assertMacroExpansion(
            source, expandedSource: expanded, diagnostics: diagnostics, macroSpecs: macros,
            failureHandler: { failure in
                Issue.record(
                    Comment(rawValue: failure.message),
                    sourceLocation: SourceLocation(
                        fileID: failure.location.fileID, filePath: failure.location.filePath,
                        line: failure.location.line, column: failure.location.column
                    )
                )
            },
            fileID: fileID, filePath: filePath, line: line, column: column
        )
    }

    @Test("stored properties in order; computed, static and lazy ones left out; access as the type's")
    func storedProperties() {
        expand(
            """
            @CacheFields
            public struct Seat {
                public static let contract = "ticketing.Seat"
                public var id: String
                public var number: Int
                public var holder: String?
                var observed: Int = 0 { didSet { } }
                lazy var cached: Int = 1
                public var key: String { id }
                public var label: String { get { "\\(number)" } }
            }
            """,
            """
            public struct Seat {
                public static let contract = "ticketing.Seat"
                public var id: String
                public var number: Int
                public var holder: String?
                var observed: Int = 0 { didSet { } }
                lazy var cached: Int = 1
                public var key: String { id }
                public var label: String { get { "\\(number)" } }
            }

            extension Seat: CacheFieldObject {
                public var fields: PumphouseUnit.CacheFieldCoding.Fields {
                    get throws {
                        var members: [PumphouseUnit.CacheFieldCoding.Member] = []
                        members.reserveCapacity(4)
                        try PumphouseUnit.CacheFieldCoding.append(self.id, as: "id", of: Self.self, to: &members)
                        try PumphouseUnit.CacheFieldCoding.append(self.number, as: "number", of: Self.self, to: &members)
                        try PumphouseUnit.CacheFieldCoding.append(self.holder, as: "holder", of: Self.self, to: &members)
                        try PumphouseUnit.CacheFieldCoding.append(self.observed, as: "observed", of: Self.self, to: &members)
                        return PumphouseUnit.CacheFieldCoding.Fields(members)
                    }
                }

                public init(fields: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    self.id = try PumphouseUnit.CacheFieldCoding.value(in: fields, "id", of: Self.self)
                    self.number = try PumphouseUnit.CacheFieldCoding.value(in: fields, "number", of: Self.self)
                    self.holder = try PumphouseUnit.CacheFieldCoding.value(in: fields, "holder", of: Self.self)
                    self.observed = try PumphouseUnit.CacheFieldCoding.value(in: fields, "observed", of: Self.self)
                }

                public mutating func apply(fields: PumphouseUnit.CacheFieldCoding.Fields, deltas: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    if PumphouseUnit.CacheFieldCoding.overlap(fields, deltas) {
                        try self.applyConverting(fields: fields, deltas: deltas)
                        return
                    }
                    for member in fields {
                        if PumphouseUnit.CacheFieldCoding.names(member, "id") {
                            self.id = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(member, "number") {
                            self.number = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(member, "holder") {
                            self.holder = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(member, "observed") {
                            self.observed = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        }
                    }
                    for delta in deltas {
                        if PumphouseUnit.CacheFieldCoding.names(delta, "id") {
                            self.id = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.id, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(delta, "number") {
                            self.number = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.number, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(delta, "holder") {
                            self.holder = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.holder, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(delta, "observed") {
                            self.observed = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.observed, of: Self.self)
                        }
                    }
                }
            }
            """
        )
    }

    @Test("CodingKeys rename fields and leave out the ones they do not list; a let with a value is written, not read")
    func codingKeys() {
        expand(
            """
            @CacheFields
            struct Hold {
                let kind = "hold"
                var holdUntil: Int64
                var `default`: Bool
                var scratch = 0
                enum CodingKeys: String, CodingKey {
                    case kind
                    case holdUntil = "hold_until"
                    case `default` = "is \\"default\\""
                }
            }
            """,
            """
            struct Hold {
                let kind = "hold"
                var holdUntil: Int64
                var `default`: Bool
                var scratch = 0
                enum CodingKeys: String, CodingKey {
                    case kind
                    case holdUntil = "hold_until"
                    case `default` = "is \\"default\\""
                }
            }

            extension Hold: CacheFieldObject {
                var fields: PumphouseUnit.CacheFieldCoding.Fields {
                    get throws {
                        var members: [PumphouseUnit.CacheFieldCoding.Member] = []
                        members.reserveCapacity(3)
                        try PumphouseUnit.CacheFieldCoding.append(self.kind, as: "kind", of: Self.self, to: &members)
                        try PumphouseUnit.CacheFieldCoding.append(self.holdUntil, as: "hold_until", of: Self.self, to: &members)
                        try PumphouseUnit.CacheFieldCoding.append(self.`default`, as: "is \\"default\\"", of: Self.self, to: &members)
                        return PumphouseUnit.CacheFieldCoding.Fields(members)
                    }
                }

                init(fields: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    self.holdUntil = try PumphouseUnit.CacheFieldCoding.value(in: fields, "hold_until", of: Self.self)
                    self.`default` = try PumphouseUnit.CacheFieldCoding.value(in: fields, "is \\"default\\"", of: Self.self)
                }

                mutating func apply(fields: PumphouseUnit.CacheFieldCoding.Fields, deltas: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    if PumphouseUnit.CacheFieldCoding.overlap(fields, deltas) {
                        try self.applyConverting(fields: fields, deltas: deltas)
                        return
                    }
                    for member in fields {
                        if PumphouseUnit.CacheFieldCoding.names(member, "hold_until") {
                            self.holdUntil = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(member, "is \\"default\\"") {
                            self.`default` = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        }
                    }
                    for delta in deltas {
                        if PumphouseUnit.CacheFieldCoding.names(delta, "hold_until") {
                            self.holdUntil = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.holdUntil, of: Self.self)
                        } else if PumphouseUnit.CacheFieldCoding.names(delta, "is \\"default\\"") {
                            self.`default` = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.`default`, of: Self.self)
                        }
                    }
                }
            }
            """
        )
    }

    @Test("a property CodingKeys leaves out without a value of its own is an error at the property")
    func missingFromCodingKeys() {
        expand(
            """
            @CacheFields
            struct Hold {
                var id: String
                var note: String
                enum CodingKeys: String, CodingKey {
                    case id
                }
            }
            """,
            """
            struct Hold {
                var id: String
                var note: String
                enum CodingKeys: String, CodingKey {
                    case id
                }
            }

            extension Hold: CacheFieldObject {
                var fields: PumphouseUnit.CacheFieldCoding.Fields {
                    get throws {
                        var members: [PumphouseUnit.CacheFieldCoding.Member] = []
                        members.reserveCapacity(1)
                        try PumphouseUnit.CacheFieldCoding.append(self.id, as: "id", of: Self.self, to: &members)
                        return PumphouseUnit.CacheFieldCoding.Fields(members)
                    }
                }

                init(fields: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    self.id = try PumphouseUnit.CacheFieldCoding.value(in: fields, "id", of: Self.self)
                }

                mutating func apply(fields: PumphouseUnit.CacheFieldCoding.Fields, deltas: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    if PumphouseUnit.CacheFieldCoding.overlap(fields, deltas) {
                        try self.applyConverting(fields: fields, deltas: deltas)
                        return
                    }
                    for member in fields {
                        if PumphouseUnit.CacheFieldCoding.names(member, "id") {
                            self.id = try PumphouseUnit.CacheFieldCoding.value(of: member, of: Self.self)
                        }
                    }
                    for delta in deltas {
                        if PumphouseUnit.CacheFieldCoding.names(delta, "id") {
                            self.id = try PumphouseUnit.CacheFieldCoding.adding(delta, to: self.id, of: Self.self)
                        }
                    }
                }
            }
            """,
            diagnostics: [
                DiagnosticSpec(
                    message: "'note' is not in CodingKeys and has no initial value, so init(fields:) could not set it; add it to CodingKeys or give it a default",
                    line: 4, column: 9
                )
            ]
        )
    }

    @Test("a let a change may set: apply goes through fields, since a let cannot be assigned in place")
    func letApplies() {
        expand(
            """
            @CacheFields
            struct Ticket {
                let id: String
            }
            """,
            """
            struct Ticket {
                let id: String
            }

            extension Ticket: CacheFieldObject {
                var fields: PumphouseUnit.CacheFieldCoding.Fields {
                    get throws {
                        var members: [PumphouseUnit.CacheFieldCoding.Member] = []
                        members.reserveCapacity(1)
                        try PumphouseUnit.CacheFieldCoding.append(self.id, as: "id", of: Self.self, to: &members)
                        return PumphouseUnit.CacheFieldCoding.Fields(members)
                    }
                }

                init(fields: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    self.id = try PumphouseUnit.CacheFieldCoding.value(in: fields, "id", of: Self.self)
                }

                mutating func apply(fields: PumphouseUnit.CacheFieldCoding.Fields, deltas: PumphouseUnit.CacheFieldCoding.Fields) throws {
                    try self.applyConverting(fields: fields, deltas: deltas)
                }
            }
            """
        )
    }

    @Test("only structs")
    func notAStruct() {
        expand(
            """
            @CacheFields
            enum Status {
                case open
            }
            """,
            """
            enum Status {
                case open
            }
            """,
            diagnostics: [
                DiagnosticSpec(
                    message: "@CacheFields applies to a struct; for a class or an enum, write `fields` and `init(fields:)` by hand or use CodableCacheEntity",
                    line: 1, column: 1
                )
            ]
        )
    }
}
