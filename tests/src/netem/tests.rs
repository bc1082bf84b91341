//! The proxy's I/O: through in-memory pipes with tokio's clock paused (so every delay
//! is exact and no test sleeps), and once through real sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::net::TcpListener;

use super::*;

/// In-memory pipe capacity: small, so the pipe holds little next to the proxy's queue.
const PIPE: usize = 4096;

/// A link with `profile`'s one-way half, seeded with `seed`, starting now.
fn link(profile: &str, seed: u64) -> Link {
    let profile: Profile = profile.parse().expect("a valid test profile");
    Link::new(
        profile.one_way(),
        ChaCha8Rng::seed_from_u64(seed),
        Instant::now(),
    )
}

/// One direction through `link`: returns the sender's end, the receiver's end, and the
/// pipe's task (its result is the bytes delivered).
fn one_direction(
    link: Link,
) -> (
    DuplexStream,
    DuplexStream,
    tokio::task::JoinHandle<io::Result<u64>>,
) {
    let (sender, proxy_in) = duplex(PIPE);
    let (proxy_out, receiver) = duplex(PIPE);
    let task = tokio::spawn(async move {
        let delivered = AtomicU64::new(0);
        pipe(proxy_in, proxy_out, link, &delivered).await
    });
    (sender, receiver, task)
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random()).collect()
}

#[tokio::test(start_paused = true)]
async fn bytes_arrive_intact_and_in_order_through_jitter_and_a_cap() {
    // `bad`: jitter ±40 ms each way, 1 Mbit/s, stalls every ~3 s.
    let (mut sender, mut receiver, task) = one_direction(link("bad", 9));
    let data = payload(300_000, 1);
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut rest = &sent[..];
        while !rest.is_empty() {
            // Writes of every size, with pauses, as a game server's frames come.
            let n = rng.random_range(1..=3000).min(rest.len());
            sender.write_all(&rest[..n]).await.unwrap();
            rest = &rest[n..];
            if rng.random_bool(0.2) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(1..30))).await;
            }
        }
        sender.shutdown().await.unwrap();
    });
    let started = Instant::now();
    let mut got = Vec::new();
    receiver.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert_eq!(got.len(), data.len(), "every byte arrived");
    assert!(got == data, "the bytes arrived unchanged and in order");
    assert_eq!(task.await.unwrap().unwrap(), data.len() as u64);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2400),
        "300 kB at 1 Mbit/s take at least 2.4 s: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_end_of_the_stream_follows_the_last_byte() {
    let (mut sender, mut receiver, task) = one_direction(link("rtt:100", 1));
    let started = Instant::now();
    sender.write_all(b"last words").await.unwrap();
    sender.shutdown().await.unwrap();
    let mut got = Vec::new();
    receiver.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words", "the data came before the end");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_millis(52),
        "data and end after half the RTT (to tokio's 1 ms timer): {took:?}"
    );
    assert_eq!(task.await.unwrap().unwrap(), 10, "the pipe ended cleanly");
}

#[tokio::test(start_paused = true)]
async fn a_stall_holds_the_data_behind_it() {
    // A stall every ~1 ms on average: the first one starts before the first byte (due
    // after 10 ms) arrives, for this seed, so that byte waits for the stall's end.
    let (mut sender, mut receiver, _task) = one_direction(link("rtt=20,stall_every=1", 3));
    let started = Instant::now();
    sender.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    receiver.read_exact(&mut byte).await.unwrap();
    let held = started.elapsed();
    assert!(
        held >= STALL_MIN,
        "the byte was held at least one stall's length: {held:?}"
    );
    assert!(
        held <= Duration::from_millis(10) + STALL_MAX * 2,
        "but not forever: {held:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_link_stops_reading_so_the_sender_fills_up() {
    // 8 kbit/s: 1 kB a second, with a sender that never stops.
    let (mut sender, mut receiver, _task) = one_direction(link("rtt=100,kbit=8", 1));
    let accepted = Arc::new(AtomicU64::new(0));
    let counted = accepted.clone();
    let writer = tokio::spawn(async move {
        let chunk = [7u8; 1024];
        loop {
            if sender.write_all(&chunk).await.is_err() {
                return;
            }
            counted.fetch_add(chunk.len() as u64, Relaxed);
        }
    });
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut total = 0u64;
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, receiver.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let received = reader.await.unwrap();
    let accepted = accepted.load(Relaxed);
    writer.abort();
    assert!(
        (4000..=5200).contains(&received),
        "about 1 kB/s came through in 5 s: {received}"
    );
    let held = accepted - received;
    assert!(
        held <= (MAX_IN_FLIGHT + 2 * PIPE) as u64,
        "the proxy held at most its queue plus the pipes: {held} bytes"
    );
    assert!(
        held >= (MAX_IN_FLIGHT / 2) as u64,
        "and its queue did fill: {held} bytes"
    );
}

/// A TCP server on port 0 that echoes what it reads and ends its side when the client
/// ends its own.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_proxy_carries_tcp_both_ways_and_passes_the_end_on() {
    let echo = echo_server().await;
    let profile: Profile = "rtt=20,jitter=10".parse().unwrap();
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo, &profile, 5)
        .await
        .unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let data = payload(200_000, 4);
    let (mut read, mut write) = stream.split();
    let mut got = Vec::new();
    let (wrote, red) = tokio::join!(
        async {
            write.write_all(&data).await?;
            // Our end travels to the echo server, whose end travels back.
            write.shutdown().await
        },
        read.read_to_end(&mut got),
    );
    wrote.unwrap();
    red.unwrap();
    assert!(got == data, "the echo came back whole and in order");
    let counters = proxy.counters();
    assert_eq!(counters.connections.load(Relaxed), 1);
    assert_eq!(counters.upstream_bytes.load(Relaxed), data.len() as u64);
    assert_eq!(counters.downstream_bytes.load(Relaxed), data.len() as u64);
    drop(stream);
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_is_closed_when_the_server_is_not_there() {
    let gone = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = Proxy::start(
        "127.0.0.1:0".parse().unwrap(),
        gone,
        &Profile::fixed_rtt(Duration::ZERO),
        1,
    )
    .await
    .unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the proxy closes the connection instead of hanging");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the client sees its connection end: {read:?}"
    );
    proxy.stop().await;
}
