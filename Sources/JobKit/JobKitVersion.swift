public enum JobKitVersion { public static let current = "0.1.0" }
