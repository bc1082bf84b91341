//! Rooms from the outside: creation through the lobby, listings (lobby pushes and
//! `GET /api/rooms`), private rooms, the join refusals and quick join.

mod room_support;

use std::time::Duration;

use kurve_shared::game::Phase;
use kurve_tests::client::{PhxClient, brief, json_of};
use kurve_tests::spawn_server;
use room_support::{find_room, http_get_json};
use serde_json::{Value, json};

/// The RoomSummary pushed to the lobby with `event` for room `id` that satisfies `pred`.
async fn lobby_push(
    watcher: &mut PhxClient,
    event: &str,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let frame = watcher
        .expect_within(
            Duration::from_secs(6),
            &format!("{event} for room {id} with {what}"),
            |f| {
                f.topic == "lobby:main"
                    && f.event == event
                    && json_of(f)["id"] == id
                    && pred(json_of(f))
            },
        )
        .await;
    assert_eq!(
        frame.join_ref,
        None,
        "expected {event} to be a broadcast: {}",
        brief(&frame)
    );
    json_of(&frame).clone()
}

/// Polls `GET /api/rooms?lobby=main` until room `id` satisfies `pred` (5 s).
async fn listed(
    server: &kurve_tests::TestServer,
    id: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, listing) = http_get_json(server.addr, "/api/rooms?lobby=main").await;
        assert_eq!(
            status, 200,
            "expected GET /api/rooms?lobby=main to be 200, got {status} {listing}"
        );
        if let Some(room) = find_room(&listing, id).filter(|r| pred(r)) {
            return room.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected GET /api/rooms to list room {id} with {what} within 5 s, last listing {listing}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_room_is_announced_listed_and_tracks_players_spectators_and_phase() {
    let server = spawn_server().await;
    let mut watcher = PhxClient::connect(&server, "watcher").await;
    let (_, rooms) = watcher.join_lobby().await;
    assert_eq!(rooms, json!([]), "expected no rooms on a fresh server");
    let mut alice = PhxClient::connect(&server, "alice").await;
    let (lobby_ref, _) = alice.join_lobby().await;

    let id = alice
        .create_room(&lobby_ref, json!({"name": "Alpha", "max_players": 4}))
        .await;
    let added = lobby_push(&mut watcher, "room_added", &id, "any content", |_| true).await;
    assert_eq!(
        added,
        json!({"id": id, "name": "Alpha", "lobby": "main", "game": "curve", "phase": "waiting", "players": [],
               "spectators": 0, "max_players": 4, "private": false}),
        "expected room_added to carry the new room's full RoomSummary"
    );

    // Alice takes a seat.
    let (join, snapshot) = alice.join_room(&id, json!({"as": "player"})).await;
    let you = &join.reply["you"];
    assert_eq!(
        you["id"],
        json!(alice.user.id),
        "expected you.id to be alice's id, got {you}"
    );
    assert_eq!(you["role"], "player", "expected role player, got {you}");
    assert!(
        you["color"]
            .as_str()
            .is_some_and(|c| c.len() == 7 && c.starts_with('#')),
        "expected a #rrggbb colour, got {you}"
    );
    let config = &join.reply["config"];
    assert_eq!(config["tick_hz"], 60, "expected tick_hz 60 in {config}");
    assert_eq!(
        config["arena"],
        json!({"w": 1024, "h": 768}),
        "expected a 1024×768 arena in {config}"
    );
    assert_eq!(config["pos_scale"], 32, "expected pos_scale 32 in {config}");
    assert_eq!(
        config["max_players"], 4,
        "expected max_players 4 in {config}"
    );
    assert_eq!(
        snapshot.phase,
        Phase::Waiting,
        "expected the snapshot of a new room to be waiting"
    );
    assert!(
        snapshot.players.iter().any(|p| p.id == alice.user.id),
        "expected alice among the snapshot's players, got {:?}",
        snapshot.players
    );
    let updated = lobby_push(&mut watcher, "room_updated", &id, "alice seated", |s| {
        s["players"] == json!([{"id": alice.user.id, "name": "alice"}])
    })
    .await;
    assert_eq!(
        updated["spectators"], 0,
        "expected no spectators yet in {updated}"
    );

    // Bob watches.
    let mut bob = PhxClient::connect(&server, "bob").await;
    let (bjoin, _) = bob.join_room(&id, json!({"as": "spectator"})).await;
    assert_eq!(
        bjoin.reply["you"]["role"], "spectator",
        "expected role spectator, got {}",
        bjoin.reply
    );
    lobby_push(&mut watcher, "room_updated", &id, "one spectator", |s| {
        s["spectators"] == 1
    })
    .await;
    let room = listed(&server, &id, "alice seated and one spectator", |r| {
        r["spectators"] == 1 && r["players"].as_array().is_some_and(|p| p.len() == 1)
    })
    .await;
    assert_eq!(
        room["phase"], "waiting",
        "expected the listed room to be waiting, got {room}"
    );
    assert_eq!(
        room["players"][0]["id"],
        json!(alice.user.id),
        "expected alice listed as a player, got {room}"
    );
    let direct = serde_json::to_value(server.app.rooms.list("main")).expect("summaries serialize");
    assert_eq!(
        find_room(&json!({"rooms": direct}), &id),
        Some(&room),
        "expected the directory and GET /api/rooms to agree"
    );

    // Carol joins; both ready: countdown, then playing.
    let mut carol = PhxClient::connect(&server, "carol").await;
    let (cjoin, _) = carol.join_room(&id, json!({"as": "player"})).await;
    assert_ne!(
        cjoin.reply["you"]["color"], join.reply["you"]["color"],
        "expected two players to get different colours"
    );
    alice.ready(&join).await;
    carol.ready(&cjoin).await;
    let countdown = lobby_push(&mut watcher, "room_updated", &id, "phase countdown", |s| {
        s["phase"] == "countdown"
    })
    .await;
    assert_eq!(
        countdown["players"].as_array().map(Vec::len),
        Some(2),
        "expected two players in {countdown}"
    );
    listed(&server, &id, "phase countdown or playing", |r| {
        r["phase"] == "countdown" || r["phase"] == "playing"
    })
    .await;
    lobby_push(&mut watcher, "room_updated", &id, "phase playing", |s| {
        s["phase"] == "playing"
    })
    .await;
    listed(&server, &id, "phase playing", |r| r["phase"] == "playing").await;
    server.stop().await;
}

#[tokio::test]
async fn a_private_room_is_unlisted_and_opens_with_its_password() {
    let server = spawn_server().await;
    let mut watcher = PhxClient::connect(&server, "watcher").await;
    watcher.join_lobby().await;
    let mut alice = PhxClient::connect(&server, "alice").await;
    let (lobby_ref, _) = alice.join_lobby().await;

    let secret = alice
        .create_room(
            &lobby_ref,
            json!({"name": "Hideout", "private": true, "password": "sesame"}),
        )
        .await;
    let public = alice.create_room(&lobby_ref, json!({"name": "Open"})).await;
    // The public room's announcement arrives; nothing about the private one before it.
    let before = watcher
        .expect("room_added for the public room", |f| {
            f.event == "room_added" && json_of(f)["id"] == public
        })
        .await;
    assert_eq!(
        json_of(&before)["private"],
        false,
        "expected the public room to be public"
    );
    let leaked: Vec<String> = watcher
        .drain()
        .iter()
        .filter(|f| f.topic == "lobby:main" && matches!(&f.payload, kurve_shared::phoenix::ServerPayload::Json(v) if v["id"] == secret))
        .map(brief)
        .collect();
    assert!(
        leaked.is_empty(),
        "expected no lobby push about the private room, got {leaked:?}"
    );

    let (status, listing) = http_get_json(server.addr, "/api/rooms?lobby=main").await;
    assert_eq!(status, 200, "expected GET /api/rooms 200, got {status}");
    assert!(
        find_room(&listing, &public).is_some(),
        "expected the public room listed in {listing}"
    );
    assert!(
        find_room(&listing, &secret).is_none(),
        "expected the private room absent from {listing}"
    );
    assert!(
        server.app.rooms.list("main").iter().all(|r| r.id != secret),
        "expected the private room absent from the directory listing"
    );
    let mut late = PhxClient::connect(&server, "late").await;
    let (_, rooms) = late.join_lobby().await;
    assert!(
        rooms
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["id"] != secret.as_str())),
        "expected the private room absent from the lobby join reply, got {rooms}"
    );

    let mut bob = PhxClient::connect(&server, "bob").await;
    for params in [
        json!({"as": "player"}),
        json!({"as": "player", "password": "nope"}),
        json!({"as": "spectator", "password": "SESAME"}),
    ] {
        let refused = bob.try_join_room(&secret, params.clone()).await;
        assert_eq!(
            refused.as_ref().map(|j| &j.topic).map_err(String::as_str),
            Err("wrong_password"),
            "expected joining the private room with {params} to be refused with wrong_password"
        );
    }
    let (join, snapshot) = bob
        .join_room(&secret, json!({"as": "player", "password": "sesame"}))
        .await;
    assert_eq!(
        join.reply["you"]["role"], "player",
        "expected bob seated, got {}",
        join.reply
    );
    assert!(
        snapshot.players.iter().any(|p| p.id == bob.user.id),
        "expected bob in the private room's snapshot"
    );
    let (_, listing) = http_get_json(server.addr, "/api/rooms?lobby=main").await;
    assert!(
        find_room(&listing, &secret).is_none(),
        "expected the private room still absent once occupied, got {listing}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_events_are_refused_with_the_contract_reasons() {
    let server = spawn_server().await;
    let mut host = PhxClient::connect(&server, "host").await;
    let (lobby_ref, _) = host.join_lobby().await;

    // not_found: a well-formed id that names no room.
    let mut p1 = PhxClient::connect(&server, "p1").await;
    assert_eq!(
        p1.try_join_room("zz9zz9zz", json!({"as": "player"}))
            .await
            .map(|j| j.topic),
        Err("not_found".to_owned()),
        "expected joining an unknown room to be refused with not_found"
    );

    // room_full: the third player of a two-seat room; spectators still fit.
    let duo = host
        .create_room(&lobby_ref, json!({"max_players": 2}))
        .await;
    let mut p2 = PhxClient::connect(&server, "p2").await;
    let mut p3 = PhxClient::connect(&server, "p3").await;
    let (pjoin, _) = p1.join_room(&duo, json!({"as": "player"})).await;
    p2.join_room(&duo, json!({"as": "player"})).await;
    assert_eq!(
        p3.try_join_room(&duo, json!({"as": "player"}))
            .await
            .map(|j| j.topic),
        Err("room_full".to_owned()),
        "expected a third player in a 2-seat room to be refused with room_full"
    );
    let (spec_join, _) = p3.join_room(&duo, json!({"as": "spectator"})).await;

    // not_a_player: a spectator's input and ready get an error reply.
    let r = p3.input(&spec_join, 1).await;
    let reply = p3.reply_to(&r).await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "not_a_player"}}),
        "expected a spectator's input to be refused with not_a_player"
    );
    let r = p3
        .push(
            Some(&spec_join.join_ref),
            &spec_join.topic,
            "ready",
            &json!({}),
        )
        .await;
    let reply = p3.reply_to(&r).await;
    assert_eq!(
        reply["response"]["reason"], "not_a_player",
        "expected a spectator's ready to be refused with not_a_player, got {reply}"
    );

    // A player's valid input gets no reply: the next reply is the one to `ready`.
    let input_ref = p1.input(&pjoin, -1).await;
    let ready_ref = p1
        .push(
            Some(&pjoin.join_ref),
            &pjoin.topic,
            "ready",
            &json!({"ready": false}),
        )
        .await;
    let first = p1
        .expect("a reply to the input or to ready", |f| {
            f.event == "phx_reply"
        })
        .await;
    assert_eq!(
        first.msg_ref.as_deref(),
        Some(ready_ref.as_str()),
        "expected no reply to a valid input (ref {input_ref}); got {}",
        brief(&first)
    );

    // already_started: a player joining after both ready (countdown), with a seat free.
    let trio = host
        .create_room(&lobby_ref, json!({"max_players": 3}))
        .await;
    let mut a = PhxClient::connect(&server, "a").await;
    let mut b = PhxClient::connect(&server, "b").await;
    let (ajoin, _) = a.join_room(&trio, json!({"as": "player"})).await;
    let (bjoin, _) = b.join_room(&trio, json!({"as": "player"})).await;
    a.ready(&ajoin).await;
    b.ready(&bjoin).await;
    a.expect("phase countdown", |f| {
        f.event == "phase" && json_of(f)["phase"] == "countdown"
    })
    .await;
    let mut c = PhxClient::connect(&server, "c").await;
    assert_eq!(
        c.try_join_room(&trio, json!({"as": "player"}))
            .await
            .map(|j| j.topic),
        Err("already_started".to_owned()),
        "expected a player joining during the countdown to be refused with already_started"
    );
    let (late, snap) = c.join_room(&trio, json!({"as": "spectator"})).await;
    assert_eq!(
        late.reply["you"]["role"], "spectator",
        "expected a late spectator to be let in"
    );
    assert_eq!(
        snap.phase,
        Phase::Countdown,
        "expected the late spectator's snapshot in countdown"
    );

    // wrong_password on a public room with a password.
    let locked = host
        .create_room(&lobby_ref, json!({"password": "pw12345"}))
        .await;
    assert_eq!(
        c.try_join_room(&locked, json!({"as": "player", "password": "pw"}))
            .await
            .map(|j| j.topic),
        Err("wrong_password".to_owned()),
        "expected a wrong password to be refused with wrong_password"
    );
    server.stop().await;
}

async fn quick_join(conn: &mut PhxClient, lobby_ref: &str) -> String {
    let r = conn
        .push(Some(lobby_ref), "lobby:main", "quick_join", &json!({}))
        .await;
    let reply = conn.reply_to(&r).await;
    assert_eq!(
        reply["status"], "ok",
        "expected quick_join to be ok, got {reply}"
    );
    reply["response"]["room_id"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a room_id in {reply}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_join_returns_a_waiting_room_with_a_free_seat_else_a_new_one() {
    let server = spawn_server().await;
    let mut a = PhxClient::connect(&server, "a").await;
    let (lobby_ref, _) = a.join_lobby().await;

    // No room yet: a new public one, announced to the lobby.
    let first = quick_join(&mut a, &lobby_ref).await;
    let added = a
        .expect("room_added for the quick-join room", |f| {
            f.event == "room_added" && json_of(f)["id"] == first
        })
        .await;
    let added = json_of(&added);
    assert_eq!(
        added["phase"], "waiting",
        "expected a new waiting room, got {added}"
    );
    assert_eq!(
        added["private"], false,
        "expected a public room, got {added}"
    );
    let (ajoin, _) = a.join_room(&first, json!({"as": "player"})).await;

    // A private waiting room and a full one are never chosen; the waiting room is.
    let secret = a
        .create_room(&lobby_ref, json!({"private": true, "password": "x1234567"}))
        .await;
    let full = a.create_room(&lobby_ref, json!({"max_players": 2})).await;
    let mut f1 = PhxClient::connect(&server, "f1").await;
    let mut f2 = PhxClient::connect(&server, "f2").await;
    f1.join_room(&full, json!({"as": "player"})).await;
    f2.join_room(&full, json!({"as": "player"})).await;
    let mut s1 = PhxClient::connect(&server, "s1").await;
    s1.join_room(&secret, json!({"as": "player", "password": "x1234567"}))
        .await;
    // The room joins are processed by the rooms before their summaries are published.
    wait_summary(&server, &full, |s| s.players.len() == 2).await;

    let mut b = PhxClient::connect(&server, "b").await;
    let (b_lobby, _) = b.join_lobby().await;
    assert_eq!(
        quick_join(&mut b, &b_lobby).await,
        first,
        "expected quick_join to return the waiting room with a free seat ({first}), not the full ({full}) or private ({secret}) one"
    );
    let (bjoin, _) = b.join_room(&first, json!({"as": "player"})).await;

    // Once that room has started, quick_join makes a new one.
    a.ready(&ajoin).await;
    b.ready(&bjoin).await;
    wait_summary(&server, &first, |s| {
        s.phase != kurve_shared::lobby::RoomPhase::Waiting
    })
    .await;
    let fresh = quick_join(&mut b, &b_lobby).await;
    assert!(
        ![first.as_str(), full.as_str(), secret.as_str()].contains(&fresh.as_str()),
        "expected quick_join to create a new room once none waits with a free seat, got {fresh}"
    );
    let listed = server.app.rooms.list("main");
    let fresh_summary = listed.iter().find(|r| r.id == fresh).unwrap_or_else(|| {
        panic!("expected the new quick-join room {fresh} listed, got {listed:?}")
    });
    assert!(
        fresh_summary.players.is_empty()
            && fresh_summary.phase == kurve_shared::lobby::RoomPhase::Waiting,
        "expected the new room empty and waiting, got {fresh_summary:?}"
    );
    server.stop().await;
}

/// Waits (5 s) until the directory's summary of `id` satisfies `pred`.
async fn wait_summary(
    server: &kurve_tests::TestServer,
    id: &str,
    pred: impl Fn(&kurve_shared::lobby::RoomSummary) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if server
            .app
            .rooms
            .list("main")
            .iter()
            .any(|s| s.id == id && pred(s))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected room {id}'s summary to reach the awaited state within 5 s, have {:?}",
            server.app.rooms.list("main")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
