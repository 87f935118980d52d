/// pgrelay's version: what `pgrelay --version`, `/health` and `realtime.relays` say.
public enum PGRelayVersion {
    public static let current = "0.20.0"
}
