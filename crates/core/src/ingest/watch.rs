//! The watch folder: `docuvault ingest watch DIR --user HANDLE`. Every `interval` the folder
//! is listed; a file whose size and modification time did not change since the last look is
//! complete (a scanner writing over SMB or FTP gives no other signal that works everywhere;
//! inotify does not see writes made on another machine). It is hashed, then uploaded as the
//! user with its SHA-256, then moved to `DIR/done/`. A file the vault refuses (type, size,
//! quota) goes to `DIR/failed/` with `<name>.reason.txt` beside it; a file that meets an outage
//! stays where it is and is tried again on the next look.
//!
//! Exactly once across crashes: the hash is committed with the document row, so after a kill
//! between the upload and the move the next look finds the content imported and only moves the
//! file. Hidden files and the usual partial-download names (`.part`, `.tmp`, `.crdownload`,
//! `~$…`) are left alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::documents::find_by_sha256;
use crate::error::Error;
use crate::services::Vault;
use crate::services::documents::Upload;

pub const DONE: &str = "done";
pub const FAILED: &str = "failed";

/// What one look at the folder did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub imported: usize,
    /// Already in the vault (imported before a restart, or the same content twice).
    pub already: usize,
    pub refused: usize,
    /// Left for the next look: still being written, or an outage.
    pub waiting: usize,
}

pub struct WatchFolder {
    vault: Vault,
    dir: PathBuf,
    owner: Uuid,
    /// (size, modified) of each file at the last look.
    seen: HashMap<PathBuf, (u64, SystemTime)>,
}

/// How one file's import ended.
enum Outcome {
    Imported(Uuid),
    Already(Uuid),
    Refused(String),
    /// An outage: try again later.
    Later(String),
}

impl WatchFolder {
    /// A watcher of `dir` importing as the user `handle`; makes `done/` and `failed/`.
    pub async fn new(vault: Vault, dir: &Path, handle: &str) -> anyhow::Result<Self> {
        let user = crate::db::users::find_by_handle(&vault.db, handle)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.chain()))?
            .filter(|u| u.is_active)
            .ok_or_else(|| anyhow::anyhow!("no active user with the handle {handle:?}"))?;
        for sub in [DONE, FAILED] {
            tokio::fs::create_dir_all(dir.join(sub))
                .await
                .map_err(|e| anyhow::anyhow!("cannot make {}: {e}", dir.join(sub).display()))?;
        }
        Ok(Self {
            vault,
            dir: dir.to_owned(),
            owner: user.id,
            seen: HashMap::new(),
        })
    }

    /// Looks every `interval` until `stop`.
    pub async fn run(&mut self, interval: Duration, stop: CancellationToken) {
        tracing::info!(dir = %self.dir.display(), every_secs = interval.as_secs_f32(), "watching the folder");
        loop {
            match self.look().await {
                Ok(pass) if pass != Pass::default() => tracing::info!(?pass, "looked"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot list the folder"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// One look: imports every file that has not changed since the last look.
    pub async fn look(&mut self) -> std::io::Result<Pass> {
        let mut pass = Pass::default();
        let mut now_seen = HashMap::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if !meta.is_file() || !wanted(&path) {
                continue;
            }
            let stamp = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            let stable = self.seen.get(&path) == Some(&stamp);
            if !stable {
                now_seen.insert(path, stamp);
                pass.waiting += 1;
                continue;
            }
            match self.import(&path, stamp.0).await {
                Outcome::Imported(id) => {
                    tracing::info!(file = %path.display(), document_id = %id, "imported");
                    self.settle(&path, DONE, None).await;
                    pass.imported += 1;
                }
                Outcome::Already(id) => {
                    tracing::info!(file = %path.display(), document_id = %id, "already imported");
                    self.settle(&path, DONE, None).await;
                    pass.already += 1;
                }
                Outcome::Refused(reason) => {
                    tracing::info!(file = %path.display(), reason, "refused");
                    self.settle(&path, FAILED, Some(&reason)).await;
                    pass.refused += 1;
                }
                Outcome::Later(reason) => {
                    tracing::warn!(file = %path.display(), reason, "not imported yet");
                    now_seen.insert(path, stamp);
                    pass.waiting += 1;
                }
            }
        }
        self.seen = now_seen;
        Ok(pass)
    }

    async fn import(&self, path: &Path, size: u64) -> Outcome {
        let hash = match sha256_of(path).await {
            Ok(h) => h,
            Err(e) => return Outcome::Later(format!("cannot read the file: {e}")),
        };
        match find_by_sha256(&self.vault.db, self.owner, &hash).await {
            Ok(Some(id)) => return Outcome::Already(id),
            Ok(None) => {}
            Err(e) => return Outcome::Later(e.chain()),
        }
        let file = match tokio::fs::File::open(path).await {
            Ok(f) => f,
            Err(e) => return Outcome::Later(format!("cannot open the file: {e}")),
        };
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .map_err(|e| Error::Internal(anyhow::anyhow!("reading the file: {e}")))
            .boxed();
        let upload = Upload {
            filename: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            declared_type: None,
            announced_bytes: Some(size),
            content_sha256: Some(hash),
            body,
        };
        match self.vault.upload(self.owner, upload).await {
            Ok(doc) => Outcome::Imported(doc.row.id),
            Err(Error::Conflict {
                code: "already_imported",
                ..
            }) => match find_by_sha256(&self.vault.db, self.owner, &hash).await {
                Ok(Some(id)) => Outcome::Already(id),
                _ => Outcome::Later("imported by another watcher just now".into()),
            },
            Err(e) => classify(e),
        }
    }

    /// Moves `path` into `sub/` under a free name, with the reason beside it.
    async fn settle(&self, path: &Path, sub: &str, reason: Option<&str>) {
        let Some(name) = path.file_name() else {
            return;
        };
        let target = free_name(&self.dir.join(sub), &name.to_string_lossy()).await;
        if let Err(e) = tokio::fs::rename(path, &target).await {
            // Left in place: the next look finds it imported (or refused again) and retries.
            tracing::warn!(file = %path.display(), error = %e, "cannot move the file");
            return;
        }
        if let Some(reason) = reason {
            let mut note = target.as_os_str().to_owned();
            note.push(".reason.txt");
            if let Err(e) = tokio::fs::write(&note, format!("{reason}\n")).await {
                tracing::warn!(file = %target.display(), error = %e, "cannot write the reason");
            }
        }
    }
}

/// The vault's answer to an upload, as the watcher acts on it: refusals of the file itself move
/// it to `failed/`; outages and internal errors leave it for the next look.
fn classify(e: Error) -> Outcome {
    match e {
        Error::BadRequest { message, .. }
        | Error::UnsupportedType { message, .. }
        | Error::Conflict { message, .. } => Outcome::Refused(message),
        e @ (Error::TooLarge { .. } | Error::QuotaExceeded { .. } | Error::Invalid(_)) => {
            Outcome::Refused(e.to_string())
        }
        other => Outcome::Later(other.chain()),
    }
}

/// Files the watcher takes: not hidden, not a partial download or an editor's lock file.
fn wanted(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().to_lowercase()) else {
        return false;
    };
    !(name.starts_with('.')
        || name.starts_with("~$")
        || name.ends_with(".reason.txt")
        || [
            ".part",
            ".partial",
            ".tmp",
            ".crdownload",
            ".download",
            ".filepart",
        ]
        .iter()
        .any(|s| name.ends_with(s)))
}

async fn sha256_of(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// `dir/name`, or `dir/name (2).ext`, … — the first that does not exist.
async fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !tokio::fs::try_exists(&first).await.unwrap_or(false) {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    for n in 2.. {
        let candidate = dir.join(format!("{stem} ({n}){ext}"));
        if !tokio::fs::try_exists(&candidate).await.unwrap_or(false) {
            return candidate;
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_and_hidden_files_are_left_alone() {
        for name in ["scan.pdf", "Invoice 2026.PDF", "notes.txt"] {
            assert!(wanted(Path::new(name)), "{name}");
        }
        for name in [
            ".hidden.pdf",
            "scan.pdf.part",
            "x.crdownload",
            "~$report.docx",
            "a.pdf.reason.txt",
        ] {
            assert!(!wanted(Path::new(name)), "{name}");
        }
    }
}
