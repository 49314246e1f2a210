//! Staso and OTLP at once: a fake Staso ingest server and an OTLP receiver, both on 127.0.0.1,
//! each get every span; one being down does not hold up the other; the report is per exporter
//! and in total. Also the selection `init` makes from the config and the `OTEL_*` variables.

mod otlp_support;
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp_support::{Receiver, Reply, fast};
use staso_core::__internal::FanOutExporter;
use staso_core::__internal::OtlpExporter;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanKind;
use staso_core::{Config, ExporterConfig, OtlpSettings, otlp, staso};
use support::{Server, closed_port_url, fast_options, span_record, start_exporter, test_config};

const TIMEOUT: Duration = Duration::from_secs(15);

/// A fan-out of the Staso transport at `staso_url` and OTLP at `otlp_url`.
fn both(
    staso_url: &str,
    otlp_url: &str,
    opts: staso_core::__internal::OtlpOptions,
) -> FanOutExporter {
    let config = test_config(staso_url)
        .exporters([staso(), otlp(otlp_url)])
        .build_with_env(|_| None)
        .expect("config");
    assert_eq!(config.exporters().len(), 2);
    let ExporterConfig::Otlp(o) = &config.exporters()[1] else {
        panic!("otlp second")
    };
    let emit = Arc::new(ExportSettings::from_config(&config, "s".into()));
    let otlp = OtlpExporter::start_with(o, &config, emit, opts).expect("otlp");
    FanOutExporter::new()
        .with("staso", Arc::new(start_exporter(&config, fast_options())))
        .with_otlp("otlp", Arc::new(otlp))
}

fn otlp_ids(rx: &Receiver) -> HashSet<Vec<u8>> {
    rx.spans().into_iter().map(|s| s.span_id).collect()
}

#[test]
fn both_receivers_get_every_span_and_the_report_is_per_exporter() {
    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let fan = both(&server.url(), &rx.url(), fast());
    for i in 0..20u64 {
        assert!(fan.export(Box::new(span_record(5, i + 1, None))).accepted);
    }
    let r = fan.flush(TIMEOUT);
    assert!(r.ok(), "{r:?}");
    assert_eq!((r.accepted, r.delivered), (40, 40), "per delivery");
    let staso = r.exporter("staso").expect("staso part");
    let otlp = r.exporter("otlp").expect("otlp part");
    assert_eq!((staso.accepted, staso.delivered), (20, 20));
    assert_eq!((otlp.accepted, otlp.delivered), (20, 20));
    assert_eq!(server.assert_delivered_once(), 20);
    assert_eq!(otlp_ids(&rx).len(), 20);
    let r = fan.shutdown(TIMEOUT);
    assert!(r.ok() && r.per_exporter.len() == 2, "{r:?}");
}

#[test]
fn a_down_collector_does_not_delay_staso() {
    let server = Server::acking();
    // The collector refuses connections for the whole test; its retry budget is long.
    let opts = staso_core::__internal::OtlpOptions {
        retry_budget: Duration::from_secs(60),
        ..fast()
    };
    let fan = both(&server.url(), &closed_port_url(), opts);
    let t = Instant::now();
    for i in 0..5u64 {
        fan.export(Box::new(span_record(6, i + 1, None)));
    }
    let r = fan.flush(Duration::from_secs(2));
    assert!(r.timed_out, "the OTLP part is still retrying: {r:?}");
    let staso = r.exporter("staso").expect("staso part");
    assert!(staso.ok() && staso.delivered == 5, "{staso:?}");
    let otlp = r.exporter("otlp").expect("otlp part");
    assert_eq!((otlp.pending, otlp.delivered), (5, 0), "{otlp:?}");
    assert_eq!(server.assert_delivered_once(), 5);
    assert!(t.elapsed() < Duration::from_secs(5));
    // Staso delivery went on while the collector was down (well within one flush).
    let first = server.requests()[0].at;
    assert!(first - t < Duration::from_secs(1), "{:?}", first - t);
}

#[test]
fn a_down_staso_does_not_delay_otlp() {
    let rx = Receiver::start(vec![], Reply::ok());
    let fan = both(&closed_port_url(), &rx.url(), fast());
    for i in 0..5u64 {
        fan.export(Box::new(span_record(7, i + 1, None)));
    }
    let r = fan.flush(TIMEOUT);
    let otlp = r.exporter("otlp").expect("otlp part");
    assert!(otlp.ok() && otlp.delivered == 5, "{otlp:?}");
    let staso = r.exporter("staso").expect("staso part");
    assert_eq!(staso.failed, 5, "{staso:?}");
    assert!(!r.ok());
    assert_eq!(otlp_ids(&rx).len(), 5);
}

#[test]
fn otel_endpoint_variable_selects_otlp_plus_staso_with_a_key_and_init_wires_both() {
    let server = Server::acking();
    let rx = Receiver::start(vec![], Reply::ok());
    let url = rx.url();
    let env = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| url.clone());
    // With an api key: both.
    let config = test_config(&server.url()).build_with_env(env).unwrap();
    assert_eq!(config.exporters().len(), 2);
    assert!(config.sends_to_staso());
    // Without one: OTLP only, and no key is required.
    let otlp_only = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .build_with_env(env)
        .unwrap();
    assert_eq!(otlp_only.exporters().len(), 1);
    assert!(!otlp_only.sends_to_staso());
    // Chosen in code: the variable does not add OTLP.
    let chosen = test_config(&server.url())
        .exporter(staso())
        .build_with_env(env)
        .unwrap();
    assert_eq!(chosen.exporters(), &[ExporterConfig::Staso]);

    let client = staso_core::init(config).expect("init");
    let span = staso_core::Span::start("wired", SpanKind::Agent);
    span.end();
    let r = client.shutdown(TIMEOUT);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.per_exporter.len(), 2, "{r:?}");
    assert!(server.assert_delivered_once() >= 1);
    let spans = rx.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "wired");
}

#[test]
fn otlp_only_needs_no_api_key_and_rejects_bad_endpoints() {
    let c = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .exporter(OtlpSettings::new("http://127.0.0.1:4318"))
        .build_with_env(|_| None);
    assert!(c.is_ok(), "{c:?}");
    let err = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .exporter(OtlpSettings::default())
        .build_with_env(|_| None)
        .unwrap_err();
    assert_eq!(err.field(), "otlp_endpoint");
    let err = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .exporter(otlp("ftp://127.0.0.1"))
        .build_with_env(|_| None)
        .unwrap_err();
    assert!(err.to_string().contains("OTLP endpoint"), "{err}");
    // Staso still requires its key.
    let err = Config::builder()
        .agent_name("bot")
        .capture_git(false)
        .exporters([staso(), otlp("http://127.0.0.1:4318")])
        .build_with_env(|_| None)
        .unwrap_err();
    assert_eq!(err.field(), "api_key");
}
