//! A `Session` fed client frames, read through its outbox as the client would see them
//! (Phoenix V2 text), with a real server state behind it (in-memory database, the
//! lobby actors running).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use kurve_shared::phoenix::Vsn;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::Config;
use crate::outbound::{Inbox, outbox};

struct Client {
    session: Session,
    inbox: Inbox,
    shutdown: CancellationToken,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn client_with(config: Config) -> Client {
    let shutdown = CancellationToken::new();
    let app = crate::build(config, shutdown.clone())
        .await
        .expect("the server state builds");
    let (out, inbox) = outbox(64);
    let user = User {
        id: "gsessiontest1".into(),
        name: "Tester".into(),
        guest: true,
    };
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    Client {
        session: Session::new(app, user, Vsn::V2, client, out),
        inbox,
        shutdown,
    }
}

async fn client() -> Client {
    client_with(Config::for_tests()).await
}

impl Client {
    /// Feeds one V2 frame `[join_ref, ref, topic, event, payload]`.
    fn send(&mut self, frame: Value) -> Option<End> {
        self.session.on_text(&frame.to_string())
    }

    /// The next frame the client would read, waiting for an actor's answer if need be.
    async fn next(&mut self) -> Value {
        loop {
            let item = tokio::time::timeout(Duration::from_secs(5), self.inbox.recv())
                .await
                .expect("a frame within 5 s");
            let text = match self.session.take(item) {
                None => continue,
                Some(Outgoing::Message(message)) => message.text(Vsn::V2),
                Some(Outgoing::Broadcast(broadcast)) => {
                    broadcast.text(Vsn::V2).map(|t| t.to_string())
                }
                Some(Outgoing::Wire(_)) => panic!("a plain outbox has no direct writes"),
            };
            return serde_json::from_str(&text.expect("a text frame")).expect("JSON");
        }
    }

    /// The next frame that is the reply to `msg_ref` (pushes before it are skipped).
    async fn reply_to(&mut self, msg_ref: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame[3] == "phx_reply" && frame[1] == msg_ref {
                return frame;
            }
        }
    }

    /// The next reply, whatever it answers (pushes before it are skipped).
    async fn next_reply(&mut self) -> Value {
        loop {
            let frame = self.next().await;
            if frame[3] == "phx_reply" {
                return frame;
            }
        }
    }

    /// The next `event` pushed on `topic` (other frames are skipped).
    async fn push(&mut self, topic: &str, event: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame[2] == topic && frame[3] == event {
                return frame;
            }
        }
    }

    async fn join_lobby(&mut self, join_ref: &str) {
        self.send(json!([join_ref, join_ref, "lobby:main", "phx_join", {}]));
        let reply = self.reply_to(join_ref).await;
        assert_eq!(reply[4]["status"], "ok", "{reply}");
        assert!(reply[4]["response"]["rooms"].is_array(), "{reply}");
        assert_eq!(reply[0], join_ref, "the reply carries the join_ref");
    }
}

#[tokio::test]
async fn a_heartbeat_is_answered_on_the_phoenix_topic() {
    let mut c = client().await;
    assert!(
        c.send(json!([null, "7", "phoenix", "heartbeat", {}]))
            .is_none()
    );
    assert_eq!(
        c.next().await,
        json!([null, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

#[tokio::test]
async fn a_topic_nobody_serves_or_nobody_joined_is_unmatched() {
    let mut c = client().await;
    c.send(json!(["1", "1", "nowhere:1", "phx_join", {}]));
    assert_eq!(
        c.next().await,
        json!([null, "1", "nowhere:1", "phx_reply",
               {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
    c.send(json!([null, "2", "lobby:main", "chat", {"body": "hi"}]));
    assert_eq!(
        c.next().await,
        json!([null, "2", "lobby:main", "phx_reply",
               {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
}

#[tokio::test]
async fn a_leave_is_answered_closes_the_channel_and_forgets_it() {
    let mut c = client().await;
    c.join_lobby("1").await;
    c.send(json!(["1", "2", "lobby:main", "phx_leave", {}]));
    let reply = c.reply_to("2").await;
    assert_eq!(reply[4]["status"], "ok");
    let close = c.push("lobby:main", "phx_close").await;
    assert_eq!(close[0], "1", "the close names the join_ref that left");
    c.send(json!([null, "3", "lobby:main", "chat", {"body": "hi"}]));
    let reply = c.reply_to("3").await;
    assert_eq!(reply[4]["response"]["reason"], "unmatched topic");
}

#[tokio::test]
async fn a_second_join_replaces_the_first_and_its_join_ref_is_closed() {
    let mut c = client().await;
    c.join_lobby("1").await;
    c.send(json!(["3", "3", "lobby:main", "phx_join", {}]));
    let close = c.push("lobby:main", "phx_close").await;
    assert_eq!(close[0], "1", "the old join_ref gets the close");
    let reply = c.reply_to("3").await;
    assert_eq!(reply[4]["status"], "ok");
    assert_eq!(reply[0], "3");
    // A push with the old join_ref belongs to a channel that is gone: dropped without a
    // word. Its payload would be refused at once (`bad_payload`) if it were routed, so
    // the heartbeat's reply being next shows it was not.
    c.send(json!(["1", "4", "lobby:main", "chat", {"not_a_field": 1}]));
    c.send(json!([null, "5", "phoenix", "heartbeat", {}]));
    let next = c.next_reply().await;
    assert_eq!(next[1], "5", "nothing answered the stale push: {next}");
    // The same push with the live join_ref is routed and refused by the lobby's decoder.
    c.send(json!(["3", "6", "lobby:main", "chat", {"not_a_field": 1}]));
    let reply = c.next_reply().await;
    assert_eq!(reply[1], "6", "{reply}");
    assert_eq!(reply[4]["response"]["reason"], "bad_payload", "{reply}");
}

#[tokio::test]
async fn an_undecodable_frame_is_answered_if_it_can_be_and_closes_the_socket_if_not() {
    let mut c = client().await;
    // Readable ref and topic, but the event is not a string.
    assert!(c.send(json!([null, "9", "lobby:main", 5, {}])).is_none());
    let reply = c.next().await;
    assert_eq!(reply[1], "9");
    assert_eq!(reply[4]["status"], "error", "{reply}");
    match c.session.on_text("this is not a frame") {
        Some(End::Close(code, _)) => assert_eq!(code, close::INVALID_DATA),
        _ => panic!("an unreadable frame closes the socket with 1007"),
    }
}

#[tokio::test]
async fn the_channel_budget_refuses_one_channel_more() {
    let mut config = Config::for_tests();
    config.limits.max_channels_per_socket = 2;
    let mut c = client_with(config).await;
    for (n, topic) in ["lobby:one", "lobby:two"].into_iter().enumerate() {
        let r = (n + 1).to_string();
        c.send(json!([r, r, topic, "phx_join", {}]));
        assert_eq!(c.reply_to(&r).await[4]["status"], "ok");
    }
    c.send(json!(["3", "3", "lobby:three", "phx_join", {}]));
    let reply = c.reply_to("3").await;
    assert_eq!(reply[4]["status"], "error");
    assert_eq!(
        reply[4]["response"]["reason"], "too_many_channels",
        "{reply}"
    );
    // Joining a topic already joined is not one more channel.
    c.send(json!(["4", "4", "lobby:one", "phx_join", {}]));
    assert_eq!(c.reply_to("4").await[4]["status"], "ok");
}

#[tokio::test]
async fn a_crashed_channel_gets_phx_error_under_its_join_ref_and_is_forgotten() {
    let mut c = client().await;
    c.join_lobby("1").await;
    let crashed = c.session.take(Outbound::ChannelCrashed {
        topic: Arc::from("lobby:main"),
    });
    let Some(Outgoing::Message(message)) = crashed else {
        panic!("a crash notice becomes a message");
    };
    let frame: Value = serde_json::from_str(&message.text(Vsn::V2).unwrap()).unwrap();
    assert_eq!(
        frame,
        json!(["1", "1", "lobby:main", "phx_error", {"reason": "channel_crash"}])
    );
    // A second notice for the same topic finds nothing joined: nothing to send.
    let again = c.session.take(Outbound::ChannelCrashed {
        topic: Arc::from("lobby:main"),
    });
    assert!(again.is_none());
    c.send(json!([null, "2", "lobby:main", "chat", {"body": "hi"}]));
    assert_eq!(
        c.reply_to("2").await[4]["response"]["reason"],
        "unmatched topic"
    );
}

#[tokio::test]
async fn goodbye_tells_every_joined_channel_of_the_shutdown() {
    let mut c = client().await;
    c.join_lobby("1").await;
    c.send(json!(["2", "2", "lobby:other", "phx_join", {}]));
    assert_eq!(c.reply_to("2").await[4]["status"], "ok");
    let mut told: Vec<(String, String)> = c
        .session
        .goodbye()
        .iter()
        .map(|m| {
            let frame: Value = serde_json::from_str(&m.text(Vsn::V2).unwrap()).unwrap();
            assert_eq!(frame[3], "server_shutdown");
            (
                frame[2].as_str().unwrap().to_owned(),
                frame[0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    told.sort();
    assert_eq!(
        told,
        [
            ("lobby:main".to_owned(), "1".to_owned()),
            ("lobby:other".to_owned(), "2".to_owned())
        ]
    );
}
