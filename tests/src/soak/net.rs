//! Addresses: the server URL (loopback only), the source-address pool, and connecting a
//! WebSocket from a chosen loopback source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use anyhow::{Context, bail, ensure};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A bot's WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

/// The server's address, parsed from `ws://HOST:PORT[/...]`. Only loopback is accepted:
/// the soak runner never sends traffic anywhere else.
pub fn server_addr(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .with_context(|| format!("{url}: expected ws://HOST:PORT"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addr = match authority.rsplit_once(':') {
        Some(("localhost", port)) => SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port.parse().context("port")?,
        ),
        _ => SocketAddr::from_str(authority)
            .with_context(|| format!("{authority}: expected IP:PORT on loopback"))?,
    };
    ensure!(
        addr.ip().is_loopback(),
        "{addr} is not a loopback address: the soak runner only targets 127.0.0.0/8 or ::1"
    );
    Ok(addr)
}

/// Parses `127.0.0.2-127.0.0.250` (or one address) into the addresses it spans, all of
/// which must be in 127.0.0.0/8.
pub fn source_range(spec: &str) -> anyhow::Result<Vec<Ipv4Addr>> {
    let (a, b) = spec.split_once('-').unwrap_or((spec, spec));
    let a = Ipv4Addr::from_str(a.trim()).with_context(|| format!("{a}: not an IPv4 address"))?;
    let b = Ipv4Addr::from_str(b.trim()).with_context(|| format!("{b}: not an IPv4 address"))?;
    let (lo, hi) = (u32::from(a), u32::from(b));
    ensure!(lo <= hi, "{spec}: the range is empty");
    ensure!(
        a.is_loopback() && b.is_loopback(),
        "{spec}: source addresses must be in 127.0.0.0/8"
    );
    ensure!(hi - lo < 1 << 16, "{spec}: at most 65536 source addresses");
    Ok((lo..=hi).map(Ipv4Addr::from).collect())
}

/// The WebSocket settings of a bot: small buffers, since thousands live in one process.
/// The read size is small too: tungstenite zeroes that much before every read, and a
/// tick frame is a few hundred bytes (4 KiB made that zeroing 6.5 % of the bots' CPU).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Connects a TCP socket from `source` (if any) to `server`, then upgrades it.
pub async fn connect_ws(
    server: SocketAddr,
    source: Option<Ipv4Addr>,
    token: &str,
) -> Result<Ws, ConnectError> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(ConnectError::Tcp)?;
    if let (Some(ip), SocketAddr::V4(_)) = (source, server) {
        socket
            .bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .map_err(ConnectError::Bind)?;
    }
    let stream = socket.connect(server).await.map_err(ConnectError::Tcp)?;
    stream.set_nodelay(true).map_err(ConnectError::Tcp)?;
    let url = format!("ws://{server}/socket/websocket?vsn=2.0.0&token={token}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .map_err(|error| match error {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                ConnectError::Refused(response.status().as_u16())
            }
            other => ConnectError::Handshake(other.to_string()),
        })?;
    Ok(ws)
}

/// Why a WebSocket could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    Bind(std::io::Error),
    Tcp(std::io::Error),
    Refused(u16),
    Handshake(String),
}

impl ConnectError {
    /// The error kind for the report.
    pub fn kind(&self) -> String {
        match self {
            ConnectError::Bind(_) => "connect:bind".into(),
            ConnectError::Tcp(e) => format!("connect:tcp:{:?}", e.kind()),
            ConnectError::Refused(status) => format!("connect:http_{status}"),
            ConnectError::Handshake(_) => "connect:handshake".into(),
        }
    }
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> anyhow::Result<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Ok(limit),
        Err(error) => bail!("raising RLIMIT_NOFILE: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert_eq!(
            server_addr("ws://127.0.0.1:4000").unwrap(),
            "127.0.0.1:4000".parse().unwrap()
        );
        assert_eq!(
            server_addr("ws://localhost:4001/socket").unwrap(),
            "127.0.0.1:4001".parse().unwrap()
        );
        assert!(server_addr("ws://[::1]:4000").is_ok());
        assert!(server_addr("ws://10.0.0.1:4000").is_err());
        assert!(server_addr("ws://example.com:80").is_err());
        assert!(server_addr("127.0.0.1:4000").is_err(), "scheme required");
    }

    #[test]
    fn source_ranges_stay_in_127() {
        assert_eq!(source_range("127.0.0.2-127.0.0.4").unwrap().len(), 3);
        assert_eq!(source_range("127.0.0.9").unwrap().len(), 1);
        assert!(source_range("127.0.0.9-127.0.0.2").is_err());
        assert!(source_range("127.0.0.2-128.0.0.1").is_err());
        assert!(source_range("192.168.0.1-192.168.0.2").is_err());
    }
}
