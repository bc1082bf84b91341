//! Long-poll sessions: a socket whose client reaches it by HTTP requests.
//!
//! A session is one task, like a WebSocket's connection task, owning a [`Session`]
//! (channels, budgets, routing) and a plain bounded [`Outbox`] — nothing is written
//! directly, there is no stream. Requests reach it as [`Command`]s: a poll waits in the
//! task (at most one at a time, up to [`POLL_WINDOW`]) and is answered with everything
//! queued as soon as anything is; a post's frames are routed before it is acknowledged.
//! Between polls, queued items stay in the outbox, so a client that polls too slowly
//! meets the same bounds as a WebSocket that reads too slowly: past
//! `config::RESYNC_QUEUE` frames or `config::RESYNC_BACKLOG` its state broadcasts give
//! way to a resync after its next poll, and past `config::MAX_KEPT_BYTES` of what
//! cannot be discarded it is dropped. A session not polled for [`SESSION_IDLE`] ends,
//! and its channels leave.
//!
//! Messages are Phoenix text frames; binary payloads go in their JSON form. A
//! broadcast's text is encoded once per serializer and shared by every session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kurve_shared::phoenix::Vsn;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};

use super::session::{End, Outgoing, Session};
use crate::app::App;
use crate::auth::User;
use crate::config::RESYNC_QUEUE;
use crate::limits::SocketSlot;
use crate::metrics;
use crate::outbound::{Inbox, Outbound, outbox};

/// How long a poll waits for a message before it is answered 204 (Phoenix's
/// `window_ms`).
pub const POLL_WINDOW: Duration = Duration::from_secs(10);

/// A session with no poll waiting for this long ends (Phoenix: 15 s).
pub const SESSION_IDLE: Duration = Duration::from_secs(15);

/// The most frames one post may carry (the official client sends at most 100).
pub const MAX_POST_FRAMES: usize = 100;

/// The most messages one poll answer carries; the rest wait for the next poll.
const MAX_MESSAGES_PER_POLL: usize = 2 * RESYNC_QUEUE;

/// Requests a session's task may have waiting: the official client has at most one
/// poll and one post in flight.
const COMMAND_QUEUE: usize = 4;

/// What a request asks of a session.
pub enum Command {
    /// A poll: answered with messages, or empty after [`POLL_WINDOW`].
    Poll(oneshot::Sender<Vec<Arc<str>>>),
    /// A post's frames, one per entry (a text frame, or a binary one in base64).
    Post(Vec<Frame>, oneshot::Sender<PostOutcome>),
}

/// One frame of a post.
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// How a session took a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    /// Every frame was routed.
    Accepted,
    /// A frame ended the session (undecodable, or a budget it was warned about).
    Ended,
}

/// A live session, as the HTTP handlers reach it.
#[derive(Clone)]
pub struct SessionHandle {
    /// The user the session was opened for.
    pub user_id: Arc<str>,
    commands: mpsc::Sender<Command>,
}

impl SessionHandle {
    /// Hands `command` to the session; Err when it has ended.
    pub async fn send(&self, command: Command) -> Result<(), Command> {
        self.commands.send(command).await.map_err(|e| e.0)
    }
}

/// The open sessions by id. A session removes itself when it ends.
#[derive(Default)]
pub struct LongPollSessions {
    open: Mutex<HashMap<Arc<str>, SessionHandle>>,
}

impl LongPollSessions {
    /// The session `id`, if it is still open.
    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, SessionHandle>> {
        // Critical sections are single map operations: a panic cannot leave one half done.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a session `id` for `user`; its task runs on the app's socket tracker and
    /// holds `slot` (the client address's socket budget) for its life.
    pub fn open(
        self: &Arc<Self>,
        id: Arc<str>,
        app: &App,
        user: User,
        vsn: Vsn,
        client: IpAddr,
        slot: SocketSlot,
    ) {
        let (commands, requests) = mpsc::channel(COMMAND_QUEUE);
        let (outbox, inbox) = outbox(RESYNC_QUEUE);
        let handle = SessionHandle {
            user_id: Arc::from(user.id.as_str()),
            commands,
        };
        self.lock().insert(id.clone(), handle);
        let session = Session::new(app.clone(), user, vsn, client, outbox);
        let sessions = self.clone();
        let app = app.clone();
        app.sockets.clone().spawn(async move {
            run(session, inbox, requests, &app).await;
            sessions.lock().remove(&id);
            drop(slot);
        });
    }
}

/// The poll waiting for messages, and when it must be answered anyway.
struct Waiting {
    answer: oneshot::Sender<Vec<Arc<str>>>,
    until: Instant,
}

async fn run(mut session: Session, inbox: Inbox, mut requests: mpsc::Receiver<Command>, app: &App) {
    let hot = metrics::hot();
    hot.sockets_open.increment(1.0);
    metrics::longpoll_sessions().increment(1.0);
    metrics::count_accepted();
    let id = session.socket().id;
    tracing::debug!(socket = id, user = %session.socket().user.id, "long-poll session opened");

    let cancelled = app.shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut waiting: Option<Waiting> = None;
    let mut idle_since = Instant::now();
    let end = loop {
        let deadline = waiting
            .as_ref()
            .map_or(idle_since + SESSION_IDLE, |w| w.until);
        tokio::select! {
            biased;
            _ = &mut cancelled => break End::Shutdown,
            _ = inbox.overflowed() => {
                metrics::slow_client_disconnected(metrics::SlowClient::Memory);
                break End::Abort;
            }
            _ = sleep_until(deadline) => match waiting.take() {
                // The window passed with nothing to say: 204.
                Some(poll) => {
                    let _ = poll.answer.send(Vec::new());
                    idle_since = Instant::now();
                }
                None => {
                    metrics::count_idle_closed();
                    break End::Gone;
                }
            },
            // The client gave up on its poll (it disconnected): idle from now.
            _ = poll_abandoned(&mut waiting), if waiting.is_some() => {
                waiting = None;
                idle_since = Instant::now();
            }
            item = inbox.recv(), if waiting.is_some() => {
                let messages = drain(&mut session, &inbox, Some(item));
                if !messages.is_empty() && let Some(poll) = waiting.take() {
                    let _ = poll.answer.send(messages);
                    idle_since = Instant::now();
                }
            }
            request = requests.recv() => match request {
                Some(Command::Poll(answer)) => {
                    // A newer poll replaces one still waiting (the client gave up on it).
                    if let Some(old) = waiting.take() {
                        let _ = old.answer.send(Vec::new());
                    }
                    let messages = drain(&mut session, &inbox, None);
                    if messages.is_empty() {
                        waiting = Some(Waiting { answer, until: Instant::now() + POLL_WINDOW });
                    } else {
                        let _ = answer.send(messages);
                        idle_since = Instant::now();
                    }
                }
                Some(Command::Post(frames, ack)) => {
                    let end = frames.into_iter().find_map(|frame| match frame {
                        Frame::Text(text) => session.on_text(&text),
                        Frame::Binary(data) => session.on_binary(&data),
                    });
                    match end {
                        None => {
                            let _ = ack.send(PostOutcome::Accepted);
                        }
                        Some(end) => {
                            let _ = ack.send(PostOutcome::Ended);
                            break end;
                        }
                    }
                }
                None => break End::Gone,
            },
        }
    };

    inbox.close();
    if let (End::Shutdown, Some(poll)) = (end, waiting.take()) {
        let goodbye = session
            .goodbye()
            .iter()
            .filter_map(|m| m.text(session.vsn()).map(Arc::from))
            .collect();
        let _ = poll.answer.send(goodbye);
    }
    session.leave_all();
    hot.sockets_open.decrement(1.0);
    metrics::longpoll_sessions().decrement(1.0);
    tracing::debug!(socket = id, "long-poll session ended");
}

/// Completes when the waiting poll's request is gone.
async fn poll_abandoned(waiting: &mut Option<Waiting>) {
    match waiting {
        Some(poll) => poll.answer.closed().await,
        None => std::future::pending().await,
    }
}

/// Everything queued, as text messages (`first` already taken); hands the queue back
/// as caught up.
fn drain(session: &mut Session, inbox: &Inbox, first: Option<Outbound>) -> Vec<Arc<str>> {
    let mut messages = Vec::new();
    let mut item = first.or_else(|| inbox.try_recv());
    while let Some(current) = item {
        if let Some(text) = text_of(session, current) {
            messages.push(text);
        }
        // Stop before taking another item: one taken is one sent.
        if messages.len() >= MAX_MESSAGES_PER_POLL {
            break;
        }
        item = inbox.try_recv();
        if item.is_none() && !inbox.idle() {
            item = inbox.try_recv();
        }
    }
    let hot = metrics::hot();
    hot.frames_out.increment(messages.len() as u64);
    hot.bytes_out
        .increment(messages.iter().map(|m| m.len() as u64).sum());
    messages
}

/// One queued item as a long-poll message.
fn text_of(session: &mut Session, item: Outbound) -> Option<Arc<str>> {
    match session.take(item)? {
        Outgoing::Message(message) => message.text(session.vsn()).map(Arc::from),
        Outgoing::Broadcast(broadcast) => broadcast.text(session.vsn()).cloned(),
        // Framed bytes only come from a WebSocket's reader.
        Outgoing::Wire(_) => None,
    }
}
