//! Unit tests of the OTLP mapping's private helpers.

use super::*;

#[test]
fn durations_in_staso_form() {
    assert_eq!(duration_ms(1_234_565_000), 1234.56);
    assert_eq!(duration_ms(1_234_575_000), 1234.58);
}

fn in_span(trace: u8, span: u8) -> InSpan {
    InSpan {
        trace_id: RawId::Bytes(vec![trace; 16]),
        span_id: RawId::Bytes(vec![span; 8]),
        parent_span_id: RawId::Bytes(Vec::new()),
        name: format!("s{span}"),
        kind: 0,
        start_ns: 1_764_000_000_000_000_000,
        end_ns: 1_764_000_000_000_000_000,
        attributes: Vec::new(),
        status_code: 0,
        status_message: String::new(),
    }
}

/// Spans are grouped by (workspace, trace) in order of first appearance, a trace's spans in
/// the order received, whether its spans come one after the other or interleaved with
/// another trace's, within a resource or across resources of one workspace.
#[test]
fn spans_are_grouped_by_trace_in_order_of_first_appearance() {
    use super::super::decode::ResourceBatch;
    let export = Export {
        resources: vec![
            ResourceBatch {
                attributes: Vec::new(),
                spans: vec![
                    in_span(1, 1),
                    in_span(1, 2),
                    in_span(2, 3),
                    in_span(1, 4),
                    in_span(2, 5),
                    in_span(2, 6),
                ],
            },
            ResourceBatch {
                attributes: Vec::new(),
                spans: vec![in_span(3, 7), in_span(1, 8)],
            },
        ],
    };
    let mapped = map_export(export, &Scope::everything()).unwrap();
    let groups: Vec<(u8, Vec<String>)> = mapped
        .groups
        .iter()
        .map(|g| {
            let first = u8::from_str_radix(&g.trace_id[..2], 16).unwrap();
            (first, g.spans.iter().map(|c| c.span.name.clone()).collect())
        })
        .collect();
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        groups,
        vec![
            (1, names(&["s1", "s2", "s4", "s8"])),
            (2, names(&["s3", "s5", "s6"])),
            (3, names(&["s7"])),
        ]
    );
    assert_eq!(mapped.accepted, 8);
}

#[test]
fn kinds_of_other_instrumentations() {
    assert_eq!(foreign_kind(Some("chat"), None), "llm");
    assert_eq!(foreign_kind(Some("text_completion"), None), "llm");
    assert_eq!(foreign_kind(Some("execute_tool"), Some("LLM")), "tool");
    assert_eq!(foreign_kind(None, Some("RETRIEVER")), "retriever");
    assert_eq!(foreign_kind(None, Some("EMBEDDING")), "chain");
    assert_eq!(foreign_kind(None, None), "chain");
}
