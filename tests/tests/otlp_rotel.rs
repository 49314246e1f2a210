//! Against a real, independent OTLP receiver: `rotel-agent` (the PyPI `rotel` package, a Rust
//! OpenTelemetry collector with a strict OTLP/HTTP JSON parser) on 127.0.0.1, in both encodings.
//! Its debug log prints every span it decoded, which is what is checked.
//!
//! Skips (with a printed note) when rotel is not installed: set `ROTEL_AGENT` to the binary, put
//! `rotel-agent` on `PATH`, or `pip install rotel` for the `python3` on `PATH`.

mod otlp_support;

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otlp_support::fast;
use staso_core::__internal::OtlpExporter;
use staso_core::ExportSettings;
use staso_core::SpanExporter;
use staso_core::SpanRecord;
use staso_core::{Config, ExporterConfig, OtlpCompression, OtlpProtocol, OtlpSettings};
use staso_core::{SpanId, TraceId};
use staso_core::{SpanKind, SpanStatus};
use staso_tests::http::free_addr;

fn find_rotel() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTEL_AGENT").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("rotel-agent");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && p.is_file()).then_some(p)
}

/// The agent process; killed when dropped.
struct Rotel {
    child: Child,
    log: Arc<Mutex<String>>,
    url: String,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rotel {
    fn start(bin: &PathBuf) -> Rotel {
        let (http, grpc) = (free_addr(), free_addr());
        let mut child = Command::new(bin)
            .args(["start", "--exporter", "blackhole", "--debug-log", "traces"])
            .args(["--debug-log-verbosity", "detailed"])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotel-agent starts");
        let log = Arc::new(Mutex::new(String::new()));
        for mut stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    log.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(http).is_err() {
            assert!(Instant::now() < deadline, "rotel did not listen on {http}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Rotel {
            child,
            log,
            url: format!("http://{http}"),
        }
    }

    /// Waits until the log holds every `needle`.
    fn wait_for(&self, needles: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log.lock().unwrap().clone();
            let missing: Vec<_> = needles.iter().filter(|n| !log.contains(*n)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rotel did not print {missing:?}; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn send(url: &str, protocol: OtlpProtocol, tag: &str, trace: u128) {
    let config = Config::builder()
        .agent_name("rotel-check")
        .capture_git(false)
        .exporter(
            OtlpSettings::new(url)
                .protocol(protocol)
                .compression(OtlpCompression::Gzip),
        )
        .build_with_env(|_| None)
        .expect("config");
    let emit = Arc::new(ExportSettings::from_config(&config, "conv-r".into()));
    let ExporterConfig::Otlp(o) = &config.exporters()[0] else {
        panic!("otlp")
    };
    let exporter = OtlpExporter::start_with(o, &config, emit, fast()).expect("starts");
    let mut root = SpanRecord::new(
        TraceId(trace),
        SpanId(0xaaaa),
        None,
        format!("root-{tag}").into(),
        SpanKind::Agent,
        staso_core::__internal::now(),
    );
    root.input = Some(r#"{"q":"hi"}"#.into());
    let mut llm = SpanRecord::new(
        TraceId(trace),
        SpanId(0xbbbb),
        Some(SpanId(0xaaaa)),
        format!("llm-{tag}").into(),
        SpanKind::Llm,
        staso_core::__internal::now(),
    );
    llm.set_model("gpt-4o".into());
    (llm.input_tokens, llm.output_tokens) = (12, 34);
    llm.status = SpanStatus::Error;
    llm.error_message = Some("upstream failed".into());
    assert!(exporter.export(Box::new(root)).accepted && exporter.export(Box::new(llm)).accepted);
    let r = exporter.shutdown(Duration::from_secs(10));
    assert!(r.ok(), "rotel refused the {tag} request: {r:?}");
}

#[test]
fn rotel_decodes_protobuf_and_strict_json() {
    let Some(bin) = find_rotel() else {
        println!("note: rotel-agent not found (pip install rotel, or set ROTEL_AGENT); skipped");
        return;
    };
    let rotel = Rotel::start(&bin);
    for (protocol, tag, trace) in [
        (
            OtlpProtocol::HttpProtobuf,
            "proto",
            0x1111_u128 << 64 | 0x2222,
        ),
        (OtlpProtocol::HttpJson, "json", 0x3333_u128 << 64 | 0x4444),
    ] {
        send(&rotel.url, protocol, tag, trace);
        rotel.wait_for(&[
            format!("Name           : root-{tag}"),
            format!("Name           : llm-{tag}"),
            format!("Trace ID       : {trace:032x}"),
            "Parent ID      : 000000000000aaaa".into(),
            "gen_ai.operation.name: Str(chat)".into(),
            "gen_ai.usage.output_tokens: Int(34)".into(),
            "service.name: Str(rotel-check)".into(),
            "input.value: Str({\"q\":\"hi\"})".into(),
        ]);
    }
}
