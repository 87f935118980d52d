import ArgumentParser
import Foundation
import PGRelayCore

@main
struct PGRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgrelay",
        abstract: "Typed, filterable, resumable change streams from PostgreSQL tables.",
        version: PGRelayVersion.current,
        subcommands: [
            InitCommand.self, SubscribeCommand.self, UnsubscribeCommand.self, SubscriptionsCommand.self,
            ListenCommand.self, ReplayCommand.self, StatusCommand.self, CleanupCommand.self, ServeCommand.self, DemoCommand.self, ChannelCommand.self,
            SendCommand.self, MessagesCommand.self, EventsCommand.self, PresenceCommand.self, StatsCommand.self, ConnectionsCommand.self,
        ]
    )
}
