import BatchGateCore

/// Picks the provider of a new job from its route (CONTRACT §5): weighted targets, deterministic for an
/// `Idempotency-Key` so a retried create lands on the same provider, then `fallback` in order.
struct RoutePlanner: Sendable {
    let routes: [String: RouteSettings]
    /// Draws the target of a create without an `Idempotency-Key`.
    let random: RandomSource

    init(routes: [RouteSettings], random: RandomSource = .system) {
        self.routes = Dictionary(routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.random = random
    }

    /// The target for a new job. With a key the choice is a pure function of it; without, it is random.
    func choose(route: RouteSettings, idempotencyKey: String?) -> String {
        let total = route.targets.reduce(0) { $0 + max(0, $1.weight) }
        guard total > 0 else { return route.targets[0].provider }
        let point: Int
        if let idempotencyKey {
            point = Int(Self.fnv1a(idempotencyKey) % UInt64(total))
        } else {
            var random = random
            point = Int.random(in: 0..<total, using: &random)
        }
        var cumulative = 0
        for target in route.targets {
            cumulative += max(0, target.weight)
            if point < cumulative { return target.provider }
        }
        return route.targets[route.targets.count - 1].provider
    }

    /// The next provider to try after a retryable submit failure: the first of `fallback` not tried yet.
    func fallback(route: String, tried: Set<String>) -> String? {
        routes[route]?.fallback.first { !tried.contains($0) }
    }

    /// 64-bit FNV-1a: stable across processes and versions, unlike `Hasher`.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}
