//! An IMAP session to a user's mailbox: connect (TLS, STARTTLS, or plain where allowed), log
//! in, select the folder, list the mail not yet imported, fetch one, mark it imported. Every
//! step has a timeout; errors are sentences for the mailbox's owner.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::types::Flag;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types};

use crate::config::MailIngestConfig;

/// What every mail DocuVault imported carries (a keyword; `\Flagged` where the server keeps
/// none).
pub const IMPORTED: &str = "$DocuVaultImported";
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain, then `STARTTLS` before anything else is said (port 143).
    StartTls,
    /// No encryption: only to private or loopback addresses, where allowed.
    None,
}

impl Security {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tls" => Some(Self::Tls),
            "starttls" => Some(Self::StartTls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tls => "tls",
            Self::StartTls => "starttls",
            Self::None => "none",
        }
    }
}

/// Where and how to log in.
#[derive(Clone)]
pub struct Mailbox {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    pub folder: String,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("folder", &self.folder)
            .finish()
    }
}

/// A sentence for the owner; `retry` when it may pass by itself (the server is down).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ImapError {
    pub message: String,
    pub retry: bool,
}

fn fails(message: impl Into<String>) -> ImapError {
    ImapError {
        message: message.into(),
        retry: false,
    }
}

fn outage(message: impl Into<String>) -> ImapError {
    ImapError {
        message: message.into(),
        retry: true,
    }
}

async fn step<T, E: std::fmt::Display>(
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(outage(format!("{what} failed: {e}"))),
        Err(_) => Err(outage(format!("{what} took longer than 30 s"))),
    }
}

/// A plain or TLS connection, as one type for the IMAP client.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The system's root certificates and `MAIL_CA_FILE`'s.
fn tls_connector(config: &MailIngestConfig) -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = &config.ca_file {
        use pki_types::pem::PemObject;
        let certs = pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| fails(format!("MAIL_CA_FILE cannot be read: {e}")))?;
        roots.add_parsable_certificates(certs);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fails(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(tls)))
}

async fn tls(
    config: &MailIngestConfig,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ImapError> {
    let name = pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| fails(format!("{host} is not a valid server name")))?;
    let connector = tls_connector(config)?;
    match tokio::time::timeout(STEP_TIMEOUT, connector.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) if e.to_string().contains("certificate") => Err(fails(format!(
            "the mail server's certificate is not trusted: {e}"
        ))),
        Ok(Err(e)) => Err(outage(format!("the TLS handshake failed: {e}"))),
        Err(_) => Err(outage("the TLS handshake took longer than 30 s")),
    }
}

pub type Session = async_imap::Session<Conn>;

/// Logs in to the mailbox and selects its folder; also whether the folder keeps keywords.
pub async fn open(
    config: &MailIngestConfig,
    addr: std::net::SocketAddr,
    mailbox: &Mailbox,
) -> Result<(Session, bool), ImapError> {
    let tcp = step("connecting to the mail server", TcpStream::connect(addr)).await?;
    let conn = match mailbox.security {
        Security::Tls => Conn::Tls(Box::new(tls(config, &mailbox.host, tcp).await?)),
        Security::None => Conn::Plain(tcp),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            step(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            Conn::Tls(Box::new(
                tls(config, &mailbox.host, client.into_inner()).await?,
            ))
        }
    };
    let mut client = async_imap::Client::new(conn);
    if mailbox.security != Security::StartTls {
        greeting(&mut client).await?;
    }
    let mut session = match tokio::time::timeout(
        STEP_TIMEOUT,
        client.login(&mailbox.username, &mailbox.password),
    )
    .await
    {
        Ok(Ok(session)) => session,
        Ok(Err((async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_), _))) => {
            return Err(fails(
                "the mail server refused the user name or password (an app password may be needed)",
            ));
        }
        Ok(Err((e, _))) => return Err(outage(format!("logging in failed: {e}"))),
        Err(_) => return Err(outage("logging in took longer than 30 s")),
    };
    let selected = match tokio::time::timeout(STEP_TIMEOUT, session.select(&mailbox.folder)).await {
        Ok(Ok(m)) => m,
        Ok(Err(async_imap::error::Error::No(_))) => {
            return Err(fails(format!(
                "the mailbox has no folder {:?}",
                mailbox.folder
            )));
        }
        Ok(Err(e)) => return Err(outage(format!("opening the folder failed: {e}"))),
        Err(_) => return Err(outage("opening the folder took longer than 30 s")),
    };
    let keywords = selected
        .permanent_flags
        .iter()
        .any(|f| matches!(f, Flag::MayCreate) || matches!(f, Flag::Custom(k) if k == IMPORTED));
    Ok((session, keywords))
}

async fn greeting(
    client: &mut async_imap::Client<impl AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send>,
) -> Result<(), ImapError> {
    match step("reading the server's greeting", client.read_response()).await? {
        Some(_) => Ok(()),
        None => Err(outage("the mail server closed the connection at once")),
    }
}

/// The mail in the folder not marked imported, oldest first, with sizes.
pub async fn pending(session: &mut Session, keywords: bool) -> Result<Vec<(u32, u32)>, ImapError> {
    let query = if keywords {
        format!("UNKEYWORD {IMPORTED}")
    } else {
        "UNFLAGGED".to_owned()
    };
    let mut uids: Vec<u32> = step("searching the folder", session.uid_search(&query))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched: Vec<_> = step("reading the sizes", async {
        session
            .uid_fetch(&set, "(UID RFC822.SIZE)")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    let mut sized: Vec<(u32, u32)> = fetched
        .iter()
        .filter_map(|f| Some((f.uid?, f.size?)))
        .collect();
    sized.sort_unstable();
    Ok(sized)
}

/// The whole message `uid`, without marking it read.
pub async fn fetch(session: &mut Session, uid: u32) -> Result<Vec<u8>, ImapError> {
    let fetched: Vec<_> = step("fetching a message", async {
        session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    fetched
        .iter()
        .find_map(|f| f.body().map(<[u8]>::to_vec))
        .ok_or_else(|| outage("the mail server sent no message body"))
}

/// Marks `uid` imported.
pub async fn mark(session: &mut Session, uid: u32, keywords: bool) -> Result<(), ImapError> {
    let flag = if keywords { IMPORTED } else { "\\Flagged" };
    step("marking a message imported", async {
        session
            .uid_store(uid.to_string(), format!("+FLAGS.SILENT ({flag})"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?;
    Ok(())
}

pub async fn close(mut session: Session) {
    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
}
