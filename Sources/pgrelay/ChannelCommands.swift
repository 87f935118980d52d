import ArgumentParser
import PGRelayCore
import PGRelayPostgres

/// `pgrelay channel ...`: named channels and their members, as users of nself realtime know them.
struct ChannelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel",
        abstract: "Create, list, inspect and delete named channels; manage their members.",
        subcommands: [Create.self, List.self, Get.self, Delete.self, Members.self, Join.self, Leave.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a channel: public (the default), private, presence or direct.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The channel's name: letters, digits and _ . : @ - (room:42).") var name: String
        @Argument(help: "public, private (members only), presence (public, with presence) or direct (two members).") var type: String = "public"
        @Argument(help: #"Options as JSON: {"max_members": 10, "members_can_send": false}."#) var options: String = "{}"

        func run() async throws {
            try await reportingErrors {
                let channel = try Channel(name: name, kind: ChannelKind(parsing: type), options: ChannelOptions(parsing: options))
                try await connection.run { try ChannelStore(connection: $0).create(channel) }
                emit("created \(channel.kind.rawValue) channel \(channel.name)\(ChannelCommand.describe(channel.options))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List channels, of one type if given, with their member counts.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Only channels of this type.") var type: String?
        @Flag(help: "One JSON array.") var json = false

        func run() async throws {
            try await reportingErrors {
                let kind = try type.map(ChannelKind.init(parsing:))
                let channels = try await connection.run { try ChannelStore(connection: $0).list(kind: kind) }
                if json {
                    emit(JSONValue.array(channels.map(ChannelCommand.json)).jsonText)
                } else if channels.isEmpty {
                    emit("no \(kind.map { "\($0.rawValue) " } ?? "")channels; pgrelay channel create NAME makes one")
                } else {
                    emit(
                        TextTable(
                            header: ["CHANNEL", "TYPE", "MEMBERS", "ONLINE", "OPTIONS", "CREATED"],
                            rows: channels.map {
                                [
                                    $0.channel.name, $0.channel.kind.rawValue, String($0.members), String($0.online),
                                    $0.channel.options.json.jsonText, $0.createdAt,
                                ]
                            }
                        ).rendered)
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one channel.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Flag(help: "One JSON object.") var json = false

        func run() async throws {
            try await reportingErrors {
                let found = try await connection.run { try ChannelStore(connection: $0).get(name) }
                if json {
                    emit(ChannelCommand.json(found).jsonText)
                } else {
                    emit(
                        """
                        channel  \(found.channel.name)
                        type     \(found.channel.kind.rawValue)
                        options  \(found.channel.options.json.jsonText)
                        members  \(found.members)
                        online   \(found.online)
                        created  \(found.createdAt)
                        """
                    )
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a channel; one with members only with --force.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Flag(help: "Delete it even though it has members.") var force = false

        func run() async throws {
            try await reportingErrors {
                try await connection.run { try ChannelStore(connection: $0).delete(name, force: force) }
                emit("deleted channel \(name)")
            }
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a channel's members, in the order they joined.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Flag(help: "One JSON array.") var json = false

        func run() async throws {
            try await reportingErrors {
                let members = try await connection.run { try ChannelStore(connection: $0).members(of: name) }
                if json {
                    emit(
                        JSONValue.array(
                            members.map { member in
                                .object([
                                    ("user", .string(member.user)), ("role", .string(member.role.rawValue)), ("can_send", .bool(member.canSend)),
                                    ("joined_at", .string(member.joinedAt)),
                                ])
                            }
                        ).jsonText)
                } else if members.isEmpty {
                    emit("channel \(name) has no members; pgrelay channel join \(name) USER adds one")
                } else {
                    emit(
                        TextTable(
                            header: ["USER", "ROLE", "CAN SEND", "JOINED"],
                            rows: members.map { [$0.user, $0.role.rawValue, $0.canSend ? "yes" : "no", $0.joinedAt] }
                        ).rendered)
                }
            }
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user to a channel, or change a member's role.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Argument(help: "The user id (a token's sub).") var user: String
        @Argument(help: "member (the default), moderator or admin.") var role: String = "member"

        func run() async throws {
            try await reportingErrors {
                let role = try ChannelRole(parsing: role)
                switch try await connection.run({ try ChannelStore(connection: $0).join(name, user: user, role: role) }) {
                case .joined: emit("\(user) joined channel \(name) as \(role.rawValue)")
                case .updated: emit("\(user) is now \(role.rawValue) of channel \(name)")
                }
            }
        }
    }

    struct Leave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user from a channel.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var name: String
        @Argument var user: String

        func run() async throws {
            try await reportingErrors {
                try await connection.run { try ChannelStore(connection: $0).leave(name, user: user) }
                emit("\(user) left channel \(name)")
            }
        }
    }

    static func describe(_ options: ChannelOptions) -> String {
        var parts: [String] = []
        if let most = options.maxMembers { parts.append("at most \(most) members") }
        if !options.membersCanSend { parts.append("members do not send") }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))"
    }

    static func json(_ summary: ChannelStore.Summary) -> JSONValue {
        .object([
            ("name", .string(summary.channel.name)), ("type", .string(summary.channel.kind.rawValue)),
            ("options", summary.channel.options.json), ("members", .number(String(summary.members))), ("online", .number(String(summary.online))),
            ("created_at", .string(summary.createdAt)),
        ])
    }
}
