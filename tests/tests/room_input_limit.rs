//! The per-socket input budget: 120 inputs a second, the excess dropped and counted.

mod room_support;

use kurve_tests::client::PhxClient;
use kurve_tests::{TestServer, spawn_server};
use room_support::create_room;
use serde_json::json;

/// The value of an unlabelled counter in `/metrics`.
fn counter(server: &TestServer, name: &str) -> f64 {
    let text = server.app.metrics.render();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn inputs_beyond_120_a_second_are_dropped_and_counted() {
    let server = spawn_server().await;
    let id = create_room(&server, "limits", 2);
    let mut player = PhxClient::connect(&server, "fast").await;
    let (join, _) = player.join_room(&id, json!({"as": "player"})).await;

    // A malformed input is answered, not silently ignored.
    let r = player
        .push(
            Some(&join.join_ref),
            &join.topic,
            "input",
            &json!({"turn": 5}),
        )
        .await;
    let reply = player.reply_to(&r).await;
    assert_eq!(
        reply["response"],
        json!({"reason": "bad_payload", "field": "turn"}),
        "got {reply}"
    );

    let before = counter(&server, "kurve_inputs_dropped_total");
    const SENT: u32 = 300;
    for i in 0..SENT {
        player.input(&join, if i % 2 == 0 { 1 } else { -1 }).await;
    }
    // The room handles its mailbox in order: once `ready` is answered, every input
    // before it has been counted or applied.
    player.ready(&join).await;
    let dropped = counter(&server, "kurve_inputs_dropped_total") - before;
    // Every input frame counts against the budget, the malformed one too: SENT + 1 in a
    // burst that takes far less than a second. At most one budget window can roll over
    // inside it, so between 120 and 240 were accepted.
    let counted = SENT + 1;
    assert!(
        (f64::from(counted - 240)..=f64::from(counted - 120)).contains(&dropped),
        "expected {}–{} of {counted} inputs dropped, counted {dropped}",
        counted - 240,
        counted - 120
    );
    server.stop().await;
}
