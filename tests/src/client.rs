//! A Phoenix Channels V2 client over tokio-tungstenite, for tests and bots.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use kurve_shared::phoenix::{self, ServerFrame, ServerPayload};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long [`PhxClient::recv`] waits for a frame before giving up.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A socket connected to `/socket/websocket` with V2 framing.
pub struct PhxClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
}

/// How a connection ended, as seen by the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// A close frame with this code.
    Code(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

impl PhxClient {
    /// Connects with `token` in the query, as the JS client's `params` do.
    pub async fn connect(base: &str, token: &str) -> anyhow::Result<Self> {
        let url = format!("{base}/socket/websocket?vsn=2.0.0&token={token}");
        let (ws, _) = connect_async(url).await.context("websocket connect")?;
        Ok(PhxClient { ws, next_ref: 1 })
    }

    /// A fresh ref, as the JS client's counter makes them.
    pub fn make_ref(&mut self) -> String {
        let r = self.next_ref.to_string();
        self.next_ref += 1;
        r
    }

    pub async fn send_text(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::Text(text.into())).await?;
        Ok(())
    }

    pub async fn send_binary(&mut self, data: Bytes) -> anyhow::Result<()> {
        self.ws.send(Message::Binary(data)).await?;
        Ok(())
    }

    /// Sends a push on a channel; returns its ref.
    pub async fn push(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &Value,
    ) -> anyhow::Result<String> {
        let msg_ref = self.make_ref();
        let text = phoenix::encode_client_text(
            join_ref,
            Some(&msg_ref),
            topic,
            event,
            &payload.to_string(),
        );
        self.send_text(text).await?;
        Ok(msg_ref)
    }

    /// Joins `topic`; returns the join_ref and the reply's `{status, response}`.
    pub async fn join(&mut self, topic: &str, params: &Value) -> anyhow::Result<(String, Value)> {
        let join_ref = self.make_ref();
        let text = phoenix::encode_client_text(
            Some(&join_ref),
            Some(&join_ref),
            topic,
            "phx_join",
            &params.to_string(),
        );
        self.send_text(text).await?;
        let reply = self.reply_to(&join_ref).await?;
        Ok((join_ref, reply))
    }

    /// Waits for the `phx_reply` to `msg_ref`; returns its payload `{status, response}`.
    pub async fn reply_to(&mut self, msg_ref: &str) -> anyhow::Result<Value> {
        let frame = self
            .recv_until(|f| f.event == "phx_reply" && f.msg_ref.as_deref() == Some(msg_ref))
            .await?;
        match frame.payload {
            ServerPayload::Json(value) => Ok(value),
            other => bail!("reply to {msg_ref} was not JSON: {other:?}"),
        }
    }

    /// The next frame from the server, or an error after [`RECV_TIMEOUT`] or a close.
    pub async fn recv(&mut self) -> anyhow::Result<ServerFrame> {
        self.recv_within(RECV_TIMEOUT).await
    }

    /// Like [`PhxClient::recv`] but waits up to a minute (a game phase can be quiet).
    pub async fn recv_long(&mut self) -> anyhow::Result<ServerFrame> {
        self.recv_within(Duration::from_secs(60)).await
    }

    /// The next frame, or an error after `timeout` or a close.
    pub async fn recv_within(&mut self, timeout: Duration) -> anyhow::Result<ServerFrame> {
        loop {
            let message = tokio::time::timeout(timeout, self.ws.next())
                .await
                .context("timed out waiting for a frame")?
                .context("connection ended")??;
            match message {
                Message::Text(text) => return Ok(phoenix::decode_server_text(&text)?),
                Message::Binary(data) => return Ok(phoenix::decode_server_binary(&data)?),
                Message::Close(frame) => bail!("closed by the server: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Receives frames until one matches `predicate` (others are dropped).
    pub async fn recv_until(
        &mut self,
        mut predicate: impl FnMut(&ServerFrame) -> bool,
    ) -> anyhow::Result<ServerFrame> {
        loop {
            let frame = self.recv().await?;
            if predicate(&frame) {
                return Ok(frame);
            }
        }
    }

    /// Reads until the connection ends and reports how (fails after `within`).
    pub async fn closed(&mut self, within: Duration) -> anyhow::Result<Closed> {
        let wait = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        return Closed::Code(frame.map_or(1005, |f| u16::from(f.code)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Closed::Dropped,
                }
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .context("the connection did not close in time")
    }
}

/// The JSON payload of a frame (panics with a clear message otherwise: test helper).
pub fn json(frame: &ServerFrame) -> &Value {
    match &frame.payload {
        ServerPayload::Json(value) => value,
        other => panic!("expected a JSON payload on {}, got {other:?}", frame.event),
    }
}
