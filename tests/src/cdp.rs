//! A headless Chromium driven over the Chrome DevTools Protocol, for tests that click and submit
//! forms in a real page: [`Devtools::navigate`], [`Devtools::eval`] (JavaScript in the page, the
//! result by value) and [`Devtools::wait_for`] (poll an expression until it is truthy).
//!
//! The WebSocket client is written here by hand (no WebSocket crate is in the workspace's lock
//! file, and CDP needs only the client side: one upgrade request, masked text frames out,
//! unmasked text frames in). It talks only to the browser it started, on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::chromium::Chromium;

/// Why a DevTools call failed.
#[derive(Debug)]
pub enum CdpError {
    /// Starting the browser, or the socket, failed.
    Io(std::io::Error),
    /// The browser or the protocol did something unexpected; what.
    Protocol(String),
    /// A wait ran out; what was waited for.
    Timeout(String),
}

impl std::fmt::Display for CdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CdpError::Io(e) => write!(f, "devtools: {e}"),
            CdpError::Protocol(m) => write!(f, "devtools: {m}"),
            CdpError::Timeout(m) => write!(f, "devtools: timed out waiting for {m}"),
        }
    }
}

impl From<std::io::Error> for CdpError {
    fn from(e: std::io::Error) -> Self {
        CdpError::Io(e)
    }
}

/// A browser with one page, driven over CDP; killed when dropped.
#[derive(Debug)]
pub struct Devtools {
    child: Child,
    socket: TcpStream,
    next_id: u64,
    profile: PathBuf,
}

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `GET path` on `addr`; the body (read by its `Content-Length`: the DevTools server keeps the
/// connection open).
fn http_get(addr: &str, path: &str) -> Result<String, CdpError> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut reader = BufReader::new(s);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(CdpError::Protocol(format!("{addr}{path}: no answer")));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length =
        length.ok_or_else(|| CdpError::Protocol(format!("{addr}{path}: no Content-Length")))?;
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    String::from_utf8(body).map_err(|e| CdpError::Protocol(format!("{addr}{path}: {e}")))
}

impl Chromium {
    /// Starts a headless browser on `about:blank` with DevTools on a free port and connects to
    /// its page.
    pub fn devtools(&self) -> Result<Devtools, CdpError> {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "staso-cdp-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(self.exe())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--window-size=1400,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        match connect(&mut child) {
            Ok(socket) => {
                let mut d = Devtools {
                    child,
                    socket,
                    next_id: 0,
                    profile,
                };
                d.call("Page.enable", json!({}))?;
                Ok(d)
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                Err(e)
            }
        }
    }
}

/// Finds the DevTools address in the browser's stderr, the page target, and opens its socket.
fn connect(child: &mut Child) -> Result<TcpStream, CdpError> {
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| CdpError::Protocol("no stderr".into()))?;
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ws://") {
                let _ = tx.send(url.split('/').next().unwrap_or("").to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| CdpError::Timeout("DevTools to listen".into()))?;
    let targets: Value = serde_json::from_str(&http_get(&addr, "/json/list")?)
        .map_err(|e| CdpError::Protocol(format!("/json/list: {e}")))?;
    let page = targets
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        .ok_or_else(|| CdpError::Protocol(format!("no page target in {targets}")))?;
    let path = page
        .strip_prefix(&format!("ws://{addr}"))
        .ok_or_else(|| CdpError::Protocol(format!("unexpected page url {page}")))?;
    let mut socket = TcpStream::connect(&addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Any 16-byte nonce will do; the answer's accept hash is not checked (we talk to the
    // browser we started).
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err(CdpError::Protocol(format!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head)
        )));
    }
    Ok(socket)
}

impl Devtools {
    fn send_text(&mut self, text: &str) -> Result<(), CdpError> {
        let payload = text.as_bytes();
        let mask = [0x5a, 0x17, 0xc3, 0x08];
        let mut frame = vec![0x81u8]; // FIN + text
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.socket.write_all(&frame)?;
        Ok(())
    }

    /// The next whole text message (continuation frames joined; control frames skipped).
    fn read_text(&mut self) -> Result<String, CdpError> {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.socket.read_exact(&mut h)?;
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let len = match h[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.socket.read_exact(&mut b)?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.socket.read_exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            self.socket.read_exact(&mut payload)?;
            match opcode {
                0x8 => return Err(CdpError::Protocol("the browser closed the socket".into())),
                0x9 | 0xa => continue, // ping/pong: the browser does not need an answer here
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message)
                    .map_err(|e| CdpError::Protocol(format!("not UTF-8: {e}")));
            }
        }
    }

    /// Calls `method` and returns its `result` (events arriving meanwhile are skipped).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, CdpError> {
        self.next_id += 1;
        let id = self.next_id;
        self.send_text(&json!({"id": id, "method": method, "params": params}).to_string())?;
        loop {
            let msg: Value = serde_json::from_str(&self.read_text()?)
                .map_err(|e| CdpError::Protocol(format!("bad message: {e}")))?;
            if msg["id"] == id {
                if let Some(err) = msg.get("error") {
                    return Err(CdpError::Protocol(format!("{method}: {err}")));
                }
                return Ok(msg["result"].clone());
            }
        }
    }

    /// Evaluates `expression` in the page; its value (JSON), promises awaited.
    pub fn eval(&mut self, expression: &str) -> Result<Value, CdpError> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(CdpError::Protocol(format!("{expression}: {e}")));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls `expression` every 50 ms until it is truthy (its value), for at most 15 s.
    pub fn wait_for(&mut self, expression: &str) -> Result<Value, CdpError> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A navigation may destroy the context mid-call; that is "not yet".
            if let Ok(v) = self.eval(&format!(
                "(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
            )) && !matches!(&v, Value::Null | Value::Bool(false))
                && v != json!("")
                && v != json!(0)
            {
                return Ok(v);
            }
            if Instant::now() > deadline {
                return Err(CdpError::Timeout(expression.to_owned()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens `url` and waits until its document has loaded.
    pub fn navigate(&mut self, url: &str) -> Result<(), CdpError> {
        self.call("Page.navigate", json!({"url": url}))?;
        self.wait_for(&format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        ))?;
        Ok(())
    }
}
