/// A change as the log holds it: the change, and the channel of the subscription whose trigger
/// captured it. Readers route by the channel, never by the table name inside the record: a
/// partition's rows, or a table renamed after subscribing, belong to the subscription.
public struct LoggedChange: Sendable, Equatable {
    public var channel: String
    public var event: ChangeEvent

    public init(channel: String, event: ChangeEvent) {
        self.channel = channel
        self.event = event
    }
}
