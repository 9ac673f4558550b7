import Foundation
import Tracing

/// Trace context across the queue: the producer injects its span's context into the job record (a `trace`
/// field holding the instrument's carrier as a JSON object — `{"traceparent": "00-…"}` with a W3C
/// propagator such as swift-otel's), and the worker extracts it as the parent of the job's run span.
///
/// When the process bootstrapped no tracer, nothing is created, injected or stored: the check is one type
/// test per enqueue and per run.
public enum JobTrace {
    /// True when the process bootstrapped a tracer (`InstrumentationSystem.bootstrap`).
    public static var isActive: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// The carrier of `context` as compact JSON with sorted keys; `""` when the instrument injected nothing.
    public static func inject(_ context: ServiceContext) -> String {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        guard !carrier.isEmpty, let data = try? encoder.encode(carrier) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The context carried by a job's `trace` field (the top-level context when the text is not a carrier).
    public static func extract(_ text: String) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let carrier = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else { return context }
        InstrumentationSystem.instrument.extract(carrier, into: &context, using: DictionaryExtractor())
        return context
    }

    /// The W3C `traceparent` of a job's `trace` field, when the tracer propagates W3C trace context.
    public static func traceparent(_ text: String) -> String? {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)))?["traceparent"]
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
