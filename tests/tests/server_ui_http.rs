//! staso-server's web UI over HTTP: the list's polling fragment, the key form of a server that
//! asks for a key (session cookie, scoped view), and every page on an empty server with its 4xx
//! pages for bad input.

mod ui_support;

use staso_tests::chromium::Chromium;
use ui_support::*;

#[test]
fn the_list_fragment_shows_new_traces() {
    let run = ingest_run();
    let base = run.server.base_url();
    let before = http()
        .get(format!("{base}/ui/fragments/traces?agent=support-agent"))
        .send()
        .and_then(|r| r.text())
        .expect("fragment");
    assert_eq!(before.matches("<tr data-trace-id=").count(), 2, "{before}");
    let now = staso_server::timefmt::now_rfc3339();
    let ingest = wire_batch("t-new", "default", "late run", &now, "support-agent");
    let r = http()
        .post(format!("{base}/v1/traces/ingest"))
        .header("X-API-Key", KEY)
        .header("Idempotency-Key", "ui-late")
        .json(&ingest)
        .send()
        .expect("ingest");
    assert!(r.status().is_success(), "{:?}", r.text());
    let after = http()
        .get(format!("{base}/ui/fragments/traces?agent=support-agent"))
        .send()
        .and_then(|r| r.text())
        .expect("fragment");
    assert_eq!(after.matches("<tr data-trace-id=").count(), 3, "{after}");
    assert!(after.starts_with("<tr data-trace-id=\"t-new\">"), "{after}");
}

#[test]
fn off_loopback_the_ui_asks_for_a_key_and_shows_its_workspaces() {
    let server = staso_server::Server::builder()
        .key(staso_server::ApiKey::all_workspaces(KEY))
        .key(staso_server::ApiKey::scoped("ak_team", ["team"]))
        .ui_requires_key(true)
        .start()
        .expect("server");
    let base = server.base_url();
    for (id, ws) in [("t-team", "team"), ("t-other", "other")] {
        let name = format!("run in {ws}");
        let body = wire_batch(id, ws, &name, "2026-01-01T00:00:00+00:00", "bot");
        let r = http()
            .post(format!("{base}/v1/traces/ingest"))
            .header("X-API-Key", KEY)
            .header("Idempotency-Key", id)
            .json(&body)
            .send()
            .expect("ingest");
        assert!(r.status().is_success());
    }
    let r = http()
        .get(format!("{base}/?status=ok"))
        .send()
        .expect("get");
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"].to_str().ok(),
        Some("/login?next=%2F%3Fstatus%3Dok")
    );
    let login = http().get(format!("{base}/login")).send().expect("login");
    assert_eq!(login.status().as_u16(), 200);
    assert!(login.text().unwrap_or_default().contains("name=\"key\""));
    let (status, _) = form_post(base, "/login", &[("key", "wrong"), ("next", "/")], base);
    assert_eq!(status, 401);
    let r = http()
        .post(format!("{base}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("key=ak_team&next=%2F")
        .send()
        .expect("login");
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap_or("").to_owned();
    assert!(
        cookie.starts_with("staso_ui_key=ak_team;")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Max-Age"),
        "{cookie}"
    );
    let page = http()
        .get(format!("{base}/"))
        .header("Cookie", "staso_ui_key=ak_team")
        .send()
        .and_then(|r| r.text())
        .expect("list");
    assert!(
        page.contains("run in team") && !page.contains("run in other"),
        "{page}"
    );
    assert!(page.contains("key · workspaces team"));
    let forget = http()
        .post(format!("{base}/logout"))
        .header("Cookie", "staso_ui_key=ak_team")
        .send()
        .expect("logout");
    assert_eq!(forget.status().as_u16(), 303);
    assert_eq!(forget.headers()["location"].to_str().ok(), Some("/login"));
    let cleared = forget.headers()["set-cookie"].to_str().unwrap_or("");
    assert!(
        cleared.starts_with("staso_ui_key=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let other = http()
        .get(format!("{base}/traces/t-other"))
        .header("Cookie", "staso_ui_key=ak_team")
        .send()
        .expect("trace");
    assert_eq!(other.status().as_u16(), 404);
    if let Some(chromium) = Chromium::find() {
        chromium
            .screenshot(&format!("{base}/login"), &screenshots().join("login.png"))
            .expect("screenshot");
    }
}

#[test]
fn pages_answer_on_an_empty_server_and_bad_input_is_a_4xx_page() {
    let server = staso_server::Server::builder()
        .api_key(KEY)
        .start()
        .expect("server");
    let base = server.base_url();
    let get = |path: &str| {
        let r = http().get(format!("{base}{path}")).send().expect("get");
        let status = r.status().as_u16();
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let csp = r.headers().contains_key("content-security-policy");
        (status, kind, csp, r.text().unwrap_or_default())
    };
    for (path, marker) in [
        ("/", "No traces match."),
        ("/agents?window=all", "No traces in this window."),
        ("/escalations", "No escalations."),
        ("/datasets", "No datasets yet."),
        ("/prompts", "No prompts yet."),
    ] {
        let (status, kind, csp, body) = get(path);
        assert_eq!(status, 200, "{path}");
        assert!(kind.starts_with("text/html") && csp, "{path}: {kind}");
        assert!(body.contains(marker), "{path}: {body}");
    }
    for (path, status, message) in [
        ("/traces/nope", 404, "trace &quot;nope&quot; not found"),
        (
            "/conversations/nope",
            404,
            "conversation &quot;nope&quot; not found",
        ),
        ("/?range=forever", 400, "range: unknown range"),
        (
            "/?since=soon",
            400,
            "since: &quot;soon&quot; is not RFC 3339",
        ),
        ("/?cursor=zzz", 400, "cursor: not a cursor from this server"),
        ("/agents?window=forever", 400, "window: unknown window"),
        ("/ui/assets/nope.js", 404, "no asset"),
    ] {
        let (got, kind, _, body) = get(path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(kind.starts_with("text/html"), "{path}");
        assert!(body.contains(message), "{path}: {body}");
    }
    let (status, kind, _, css) = get("/ui/assets/ui.css");
    assert_eq!((status, kind.as_str()), (200, "text/css; charset=utf-8"));
    assert!(css.contains(".wf-bar"));
    // Form posts: unknown trace, unknown decision, unknown escalation, foreign host name.
    let origin = base.to_owned();
    let score = [("name", "q"), ("value", "1")];
    assert_eq!(
        form_post(base, "/traces/nope/scores", &score, &origin).0,
        404
    );
    assert_eq!(form_post(base, "/escalations/x/maybe", &[], &origin).0, 404);
    let missing = http()
        .post(format!("{base}/traces/nope/scores"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=q")
        .send()
        .expect("post");
    assert_eq!(missing.status().as_u16(), 400);
    let page = missing.text().unwrap_or_default();
    assert!(page.contains("form: ") && page.contains("value"), "{page}");
    assert_eq!(
        form_post(base, "/escalations/x/approve", &[], &origin).0,
        404
    );
    let rebound = http()
        .get(format!("{base}/"))
        .header("Host", "attacker.example")
        .send()
        .expect("get");
    assert_eq!(rebound.status().as_u16(), 403);
    // The API keeps answering JSON beside the UI.
    let (status, kind, _, _) = get("/v1/traces");
    assert_eq!((status, kind.as_str()), (401, "application/json"));
}
