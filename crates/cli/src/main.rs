//! The `docuvault` binary: parse the command line, load configuration, install tracing, and
//! hand over to the API builder, the worker or the migrator. Nothing else lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use docuvault_api::Application;
use docuvault_core::pipeline::worker::Worker;
use docuvault_core::{Config, config, db};
use tokio_util::sync::CancellationToken;

mod healthcheck;

#[derive(Debug, Parser)]
#[command(
    name = "docuvault",
    version,
    about = "DocuVault: a self-hosted, privacy-first document vault"
)]
struct Cli {
    /// Log format: `pretty` for people, `json` for log collectors. Filter with RUST_LOG.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API (reads DATABASE_URL, MINIO_*, REDIS_URL, SECRET_KEY, BIND_ADDR, …).
    Serve {
        /// Also run a worker in this process (single-process installs).
        #[arg(long)]
        with_worker: bool,
    },
    /// Run a worker: extract text from uploaded documents and classify them.
    Worker {
        /// Jobs run at once (default: WORKER_CONCURRENCY, else 2).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Process every waiting document (retries included, as they come due), then exit.
        #[arg(long)]
        once: bool,
    },
    /// Apply database migrations (reads only DATABASE_MIGRATE_URL).
    Migrate,
    /// Manage accounts from the server's shell.
    #[command(subcommand)]
    User(UserCommand),
    /// Storage quotas.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Import documents by themselves.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Secrets stored sealed in the database.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print the API's OpenAPI document (what `/api/openapi.json` serves) without a server or
    /// any configuration; the web app's TypeScript types are generated from it.
    Openapi,
    /// Exit 0 if this host's API answers `/health` with 200 (for container healthchecks: slim
    /// images have no curl); with `--worker`, if a worker here touched its heartbeat file
    /// within the last minute.
    Healthcheck {
        #[arg(long)]
        worker: bool,
    },
}

#[derive(Debug, Subcommand)]
enum IngestCommand {
    /// Watch a folder (a scanner's): each file that stops changing is uploaded as the user,
    /// then moved to DIR/done/ (or DIR/failed/ with DIR/failed/<name>.reason.txt); each
    /// content is imported once per user, across restarts.
    Watch {
        dir: std::path::PathBuf,
        /// The user the documents belong to.
        #[arg(long)]
        user: String,
        /// Seconds between looks; a file is taken once it is unchanged across one.
        #[arg(long, env = "INGEST_INTERVAL_SECS", default_value_t = 5.0)]
        interval_secs: f64,
        /// Look twice (one interval apart), import what is complete, and exit.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// After replacing SECRET_KEY (with the old one in SECRET_KEY_PREVIOUS), seal every stored
    /// secret again under the new key: AI API keys, TOTP secrets, mail and cloud passwords.
    /// Safe to run again; then SECRET_KEY_PREVIOUS can be removed.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum QuotaCommand {
    /// Compare every user's recorded use with the sum of their documents' and open upload
    /// reservations' sizes; exit 1 if any differ (with `--fix`, set them to the sum and exit 0).
    Check {
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from a prompt, or from the first line of stdin
    /// when stdin is not a terminal — never from the command line.
    Create {
        #[arg(long)]
        handle: String,
        #[arg(long)]
        email: String,
        /// Make the account an admin (the first admin is made this way).
        #[arg(long)]
        admin: bool,
    },
    /// Set an account's password (prompt or stdin, as for `create`); ends its sign-ins.
    SetPassword { handle: String },
}

fn main() -> ExitCode {
    // A missing .env is normal (production reads /etc/docuvault/env through the service
    // manager); variables already set always win over the file.
    let dotenv = dotenvy::dotenv();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    if let Err(e) = &dotenv
        && !e.not_found()
    {
        tracing::error!("cannot read .env: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // One line for configuration errors; the cause chain for everything else.
            if let Some(c) = e.downcast_ref::<docuvault_core::ConfigError>() {
                eprintln!("{c}");
            } else {
                tracing::error!("{e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

/// How long a stopping worker lets running jobs finish before giving them back.
const WORKER_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { with_worker } => {
            let config = Config::from_env()?;
            let app = Application::build(&config).await?;
            let token = CancellationToken::new();
            tokio::spawn(cancel_on_signal(token.clone()));
            let worker = if with_worker {
                let worker = Worker::from_config(&config, "docuvault-worker")?;
                let stop = token.clone();
                Some(tokio::spawn(
                    async move { worker.run(stop, WORKER_GRACE).await },
                ))
            } else {
                None
            };
            let stop = token.clone();
            let served = app
                .run_until_stopped(async move { stop.cancelled().await })
                .await;
            token.cancel();
            if let Some(worker) = worker {
                worker.await?;
            }
            served?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { concurrency, once } => {
            let config = Config::from_env()?;
            let mut worker = Worker::from_config(&config, "docuvault-worker")?;
            if let Some(n) = concurrency {
                worker = worker.with_concurrency(n);
            }
            if once {
                let stats = worker.run_until_idle().await?;
                tracing::info!(
                    classified = stats.classified,
                    failed = stats.failed,
                    retried = stats.retried,
                    "no document is waiting"
                );
            } else {
                let token = CancellationToken::new();
                tokio::spawn(cancel_on_signal(token.clone()));
                worker.run(token, WORKER_GRACE).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user_command(cmd).await,
        Command::Quota(QuotaCommand::Check { fix }) => quota_check(fix).await,
        Command::Secrets(SecretsCommand::Rotate) => secrets_rotate().await,
        Command::Ingest(IngestCommand::Watch {
            dir,
            user,
            interval_secs,
            once,
        }) => watch(&dir, &user, interval_secs, once).await,
        Command::Openapi => {
            println!("{}", docuvault_api::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { worker } => Ok(if worker {
            healthcheck::worker()
        } else {
            healthcheck::api().await
        }),
        Command::Migrate => {
            let url = config::migrate_url_from_env()?;
            db::migrate(&url).await?;
            tracing::info!("database is up to date");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn user_command(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    use docuvault_core::services::Vault;
    let config = Config::from_env()?;
    let vault = Vault::from_config(&config, "docuvault-cli")?;
    match cmd {
        UserCommand::Create {
            handle,
            email,
            admin,
        } => {
            let password = read_password()?;
            let role = if admin {
                docuvault_domain::Role::Admin
            } else {
                docuvault_domain::Role::User
            };
            let user = vault
                .create_user(&handle, &email, &password, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("created {} {} ({})", role.as_str(), user.handle, user.id);
        }
        UserCommand::SetPassword { handle } => {
            let password = read_password()?;
            vault
                .set_password_from_cli(&handle, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("password of {handle} set; its sign-ins were ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(
    dir: &std::path::Path,
    user: &str,
    interval_secs: f64,
    once: bool,
) -> anyhow::Result<ExitCode> {
    use docuvault_core::ingest::watch::WatchFolder;
    anyhow::ensure!(
        interval_secs.is_finite() && (0.05..=3600.0).contains(&interval_secs),
        "--interval-secs is between 0.05 and 3600"
    );
    let interval = std::time::Duration::from_secs_f64(interval_secs);
    let config = Config::from_env()?;
    let vault = docuvault_core::services::Vault::from_config(&config, "docuvault-ingest")?;
    let mut watcher = WatchFolder::new(vault, dir, user).await?;
    if once {
        watcher.look().await?;
        tokio::time::sleep(interval).await;
        let pass = watcher.look().await?;
        tracing::info!(?pass, "looked twice");
        return Ok(ExitCode::SUCCESS);
    }
    let token = CancellationToken::new();
    tokio::spawn(cancel_on_signal(token.clone()));
    watcher.run(interval, token).await;
    Ok(ExitCode::SUCCESS)
}

async fn secrets_rotate() -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    if config.secret_key_previous.is_none() {
        tracing::warn!(
            "SECRET_KEY_PREVIOUS is not set: only values that no longer open are counted, none can be sealed again"
        );
    }
    let pool = db::connect_lazy(&config.database, "docuvault-cli")?;
    let sealer = docuvault_core::crypto::Sealer::from_config(&config);
    let report = docuvault_core::services::secrets::rotate(&pool, &sealer)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
    let mut unreadable = 0;
    for ((kind, resealed), (_, lost)) in report.resealed.iter().zip(&report.unreadable) {
        eprintln!("{kind}: {resealed} sealed again, {lost} open with neither key");
        unreadable += lost;
    }
    Ok(if unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn quota_check(fix: bool) -> anyhow::Result<ExitCode> {
    use docuvault_core::db::quotas;
    let config = Config::from_env()?;
    let pool = db::connect_lazy(&config.database, "docuvault-cli")?;
    let drifted = quotas::drift(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
    if drifted.is_empty() {
        eprintln!("every quota matches its documents and open uploads");
        return Ok(ExitCode::SUCCESS);
    }
    for d in &drifted {
        eprintln!(
            "{} ({}): recorded {} bytes, documents and open uploads add up to {}",
            d.handle, d.user_id, d.recorded_bytes, d.actual_bytes
        );
    }
    if !fix {
        eprintln!(
            "{} quota(s) differ; run again with --fix to set them to that sum",
            drifted.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    for d in &drifted {
        let used = quotas::recompute(&pool, d.user_id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))?;
        eprintln!("{}: set to {used} bytes", d.handle);
    }
    Ok(ExitCode::SUCCESS)
}

/// A password from a no-echo prompt (typed twice) or the first line of piped stdin.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!password.is_empty(), "no password on stdin");
        Ok(password)
    }
}

/// Resolves the shutdown token on SIGTERM (service managers, `docker stop`) or Ctrl-C.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
    token.cancel();
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A failed log write is otherwise reported with `eprintln!`, which panics when stderr
        // is a closed pipe (a log shipper that went away) and took the request with it.
        .log_internal_errors(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
