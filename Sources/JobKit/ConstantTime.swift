/// Comparisons of secrets and signatures whose time does not depend on where the inputs differ.
public enum ConstantTime {
    /// Whether `candidate` equals `secret`, looking at every byte of `secret` whatever `candidate` holds (no early
    /// exit; the length of `secret` is the only thing the time tells).
    public static func equal(_ candidate: [UInt8], _ secret: [UInt8]) -> Bool {
        var difference: UInt8 = candidate.count == secret.count ? 0 : 1
        for i in 0..<secret.count {
            let c = i < candidate.count ? candidate[i] : 0
            difference |= c ^ secret[i]
        }
        return difference == 0
    }
}
