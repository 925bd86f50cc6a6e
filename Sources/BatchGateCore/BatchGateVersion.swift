/// The gateway's version, printed by `batchgate --version` and sent as its `User-Agent` where it names one.
public enum BatchGateVersion {
    public static let current = "0.13.0-dev"
}
