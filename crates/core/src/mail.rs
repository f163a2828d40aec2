//! Outgoing email behind a small trait: SMTP (lettre) when `SMTP_HOST` is set, otherwise a
//! mailer that sends nothing and says so in the log (never the message body: it holds a
//! single-use secret).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpTls};

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    async fn send(&self, mail: Mail) -> anyhow::Result<()>;
}

/// The mailer the configuration asks for.
pub fn from_config(smtp: Option<&SmtpConfig>) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match smtp {
        Some(cfg) => Arc::new(SmtpMailer::new(cfg)?),
        None => Arc::new(NoMailer),
    })
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpMailer")
    }
}

impl SmtpMailer {
    pub fn new(cfg: &SmtpConfig) -> anyhow::Result<Self> {
        let builder = match cfg.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
                .context("SMTP_HOST is not usable for TLS")?,
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
                .context("SMTP_HOST is not usable for STARTTLS")?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        };
        let mut builder = builder
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(15)));
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: cfg
                .from
                .parse()
                .context("SMTP_FROM is not an email address")?,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail
                .to
                .parse()
                .context("recipient is not an email address")?)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .context("building the message failed")?;
        self.transport
            .send(message)
            .await
            .context("the SMTP server refused or could not be reached")?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, mail: Mail) -> anyhow::Result<()> {
        tracing::warn!(subject = %mail.subject, "email not sent: SMTP is not configured (set SMTP_HOST and SMTP_FROM)");
        Ok(())
    }
}
