//! `conversation!`: session and user ids on every span inside, nesting, async across threads.

mod common;

use common::setup;
use staso::FutureExt;

#[staso::tool]
fn step(n: u32) -> u32 {
    n
}

#[staso::agent]
async fn agent_run(n: u32) -> u32 {
    tokio::task::yield_now().await;
    let a = step(n);
    let b = tokio::spawn(async move { step(a + 1) }.in_current_span())
        .await
        .unwrap_or(0);
    a + b
}

#[test]
fn block_form_sets_session_and_user() {
    let h = setup();
    let default_session = h
        .client
        .as_ref()
        .map(|c| c.default_session_id().to_owned())
        .unwrap_or_default();
    let v = staso::conversation!("conv-42", user_id = "user-alice", { step(1) + 1 });
    assert_eq!(v, 2);
    step(9);
    let inside = h.all_named("step");
    assert_eq!(inside[0].span.session_id, "conv-42");
    assert_eq!(inside[0].span.user_id, "user-alice");
    assert_eq!(
        inside[1].span.session_id, default_session,
        "outside: the default session"
    );
    assert_eq!(inside[1].span.user_id, "");
}

#[test]
fn ids_are_any_string_expressions_and_optional() {
    let h = setup();
    let n = 7;
    staso::conversation!(format!("conv-{n}"), { step(1) });
    staso::conversation!(String::from("c2"), user_id = format!("u{n}"), { step(2) });
    let generated = staso::conversation!({
        step(3);
        staso::current_session_id()
    });
    let spans = h.all_named("step");
    assert_eq!(spans[0].span.session_id, "conv-7");
    assert_eq!(
        (
            spans[1].span.session_id.as_str(),
            spans[1].span.user_id.as_str()
        ),
        ("c2", "u7")
    );
    assert_eq!(Some(spans[2].span.session_id.clone()), generated);
    assert!(generated.is_some_and(|g| g.len() == 36));
}

#[test]
fn conversations_nest_inner_wins_outer_restored() {
    let h = setup();
    staso::conversation!("outer", user_id = "u-outer", {
        step(1);
        staso::conversation!("inner", {
            step(2);
        });
        staso::conversation!("inner2", user_id = "u-inner", {
            step(3);
        });
        step(4);
    });
    let s: Vec<_> = h
        .all_named("step")
        .into_iter()
        .map(|s| (s.span.session_id, s.span.user_id))
        .collect();
    assert_eq!(
        s,
        vec![
            ("outer".to_owned(), "u-outer".to_owned()),
            ("inner".to_owned(), "u-outer".to_owned()),
            ("inner2".to_owned(), "u-inner".to_owned()),
            ("outer".to_owned(), "u-outer".to_owned()),
        ]
    );
}

fn early_exit(fail: bool) -> Result<u32, String> {
    staso::conversation!("early", {
        if fail {
            return Err("stopped".to_owned());
        }
        let v: u32 = "5".parse().map_err(|_| "parse".to_owned())?;
        Ok(v)
    })
}

#[test]
fn block_form_keeps_return_and_question_mark() {
    let _h = setup();
    assert_eq!(early_exit(true), Err("stopped".to_owned()));
    assert_eq!(
        staso::current_session_id(),
        None,
        "restored after an early return"
    );
    assert_eq!(early_exit(false), Ok(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_form_follows_awaits_threads_and_spawned_tasks() {
    let h = setup();
    let total = staso::conversation!(
        "conv-async",
        user_id = "u1",
        async move { agent_run(1).await }
    )
    .await;
    assert_eq!(total, 3);
    let spans = h.finished();
    assert_eq!(spans.len(), 3, "{}", h.render());
    for s in &spans {
        assert_eq!(
            (s.span.session_id.as_str(), s.span.user_id.as_str()),
            ("conv-async", "u1")
        );
    }
    let agent = h.by_name("agent_run");
    for s in h.all_named("step") {
        assert_eq!(
            s.span.parent_span_id.as_deref(),
            Some(agent.span.span_id.as_str())
        );
        assert_eq!(s.trace_id, agent.trace_id);
    }
    assert_eq!(staso::current_session_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conversations_do_not_mix() {
    let h = setup();
    let tasks: Vec<_> = (0..32u32)
        .map(|i| {
            tokio::spawn(staso::conversation!(
                format!("c{i}"),
                user_id = format!("u{i}"),
                async move { agent_run(i).await }
            ))
        })
        .collect();
    for t in tasks {
        t.await.ok();
    }
    let spans = h.finished();
    assert_eq!(spans.len(), 32 * 3);
    let agents: std::collections::HashMap<String, (String, String)> = h
        .all_named("agent_run")
        .into_iter()
        .map(|a| {
            (
                a.span.span_id.clone(),
                (a.span.session_id.clone(), a.trace_id.clone()),
            )
        })
        .collect();
    for s in h.all_named("step") {
        let parent = s.span.parent_span_id.clone().unwrap_or_default();
        let (session, trace) = &agents[&parent];
        assert_eq!(&s.span.session_id, session);
        assert_eq!(&s.trace_id, trace);
        assert_eq!(
            s.span.user_id.trim_start_matches('u'),
            session.trim_start_matches('c')
        );
    }
}
