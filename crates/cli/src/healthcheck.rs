//! `docuvault healthcheck [--worker]`: the probes a container runtime runs inside the API and
//! worker containers. They read only what they need from the environment (`BIND_ADDR`,
//! `WORKER_HEARTBEAT_FILE`), never the whole configuration, so a probe works with the same
//! environment as the process it checks and prints no secret.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A probe answers within this, whatever the API does.
const TIMEOUT: Duration = Duration::from_secs(4);
/// A heartbeat older than this means the worker's loop is stuck or gone.
const HEARTBEAT_MAX_AGE: Duration = Duration::from_secs(60);

/// GET /health on this host's API: healthy only on a 200 (every dependency answered).
pub async fn api() -> ExitCode {
    let configured = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| docuvault_core::config::DEFAULT_BIND_ADDR.to_owned());
    let Ok(mut addr) = configured.parse::<SocketAddr>() else {
        eprintln!("unhealthy: BIND_ADDR {configured:?} is not an address");
        return ExitCode::FAILURE;
    };
    // Listening on every interface: ask over loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    match tokio::time::timeout(TIMEOUT, get_health(addr)).await {
        Ok(Ok(status)) if status.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("unhealthy: /health answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("unhealthy: cannot ask {addr}/health: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("unhealthy: {addr}/health did not answer within {TIMEOUT:?}");
            ExitCode::FAILURE
        }
    }
}

/// The status line of `GET /health`.
async fn get_health(addr: SocketAddr) -> std::io::Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    conn.take(4096).read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

/// Healthy if the worker's heartbeat file was touched within the last minute.
pub fn worker() -> ExitCode {
    let path = std::env::var("WORKER_HEARTBEAT_FILE")
        .unwrap_or_else(|_| docuvault_core::config::DEFAULT_HEARTBEAT_FILE.to_owned());
    if path.trim().is_empty() {
        eprintln!("unhealthy: WORKER_HEARTBEAT_FILE is empty, so the worker writes no heartbeat");
        return ExitCode::FAILURE;
    }
    let age = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(|t| SystemTime::now().duration_since(t).unwrap_or_default());
    match age {
        Ok(age) if age <= HEARTBEAT_MAX_AGE => ExitCode::SUCCESS,
        Ok(age) => {
            eprintln!(
                "unhealthy: the worker's last heartbeat is {} s old",
                age.as_secs()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: no heartbeat at {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
