//! Moving documents between backends (DocuVault's store and a person's cloud), done by the
//! workers so a request never waits for gigabytes to cross the network.
//!
//! The order makes a move crash-safe: copy to the target (on the clean-up list since the move
//! was asked for), check the copy's size and SHA-256 against the source read in the same pass,
//! switch the row in one transaction (quota included), and only then delete the old copy (on the
//! clean-up list in that same transaction). A worker killed at any step leaves the move row;
//! after its lease another worker starts the copy again under the same target, so nothing is
//! lost and nothing stays twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::worker::Worker;
use crate::db::activity;
use crate::db::storage_moves::{self as q, Switched, TakenMove};
use crate::error::Error;
use crate::storage::{ByteStream, Location};
use docuvault_domain::ObjectKey;

/// Waits before trying a move again after a backend was unreachable: 30 s, doubling, at most an
/// hour.
fn backoff(attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_secs(30 * 2u64.pow(exp)).min(Duration::from_secs(3600))
}

impl Worker {
    /// Makes every move that is due, one after another; how many it finished or gave up.
    pub async fn run_due_moves(&self) -> crate::Result<usize> {
        let mut handled = 0;
        while let Some(mv) = q::take_due(&self.pipeline.db, self.move_lease()).await? {
            self.make_move(mv).await;
            handled += 1;
        }
        Ok(handled)
    }

    /// How long a worker holds a move without renewing it: as long as a job's delivery
    /// (`JOB_VISIBILITY_SECS`), after which another worker takes over from a dead one; renewed
    /// three times as often.
    fn move_lease(&self) -> Duration {
        self.pipeline.config.visibility.max(Duration::from_secs(1))
    }

    async fn make_move(&self, mv: TakenMove) {
        let db = &self.pipeline.db;
        let lease = self.move_lease();
        let renew = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                match q::renew(db, mv.document_id, mv.attempts, lease).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::debug!(error = %e.chain(), "cannot renew a move's lease")
                    }
                }
            }
        };
        let copied = tokio::select! {
            copied = self.copy(&mv) => copied,
            () = renew => {
                tracing::warn!(document_id = %mv.document_id, "another worker took the move over");
                return;
            }
        };
        let outcome = match copied {
            Ok(locator) => match q::switch(db, &mv, &locator).await {
                Ok(Switched::Done) => Ok(()),
                Ok(Switched::Lost) => return,
                Ok(Switched::OverQuota) => Err(Error::conflict(
                    "quota_exceeded",
                    "the document does not fit in what is left of your storage quota",
                )),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => self.after_switch(&mv).await,
            Err(e) => self.after_failure(&mv, e).await,
        }
    }

    /// Copies the document to the move's target, hashing the source as it passes, then reads
    /// the copy back and checks it has the same size and hash; the copy's locator.
    async fn copy(&self, mv: &TakenMove) -> crate::Result<String> {
        let storage = &self.pipeline.storage;
        let source = storage.get_stream(&mv.from_locator).await?;
        let (body, seen) = hashing(source);
        let (locator, size) = match mv.to_connection_id {
            None => {
                let key = ObjectKey::from_stored(mv.to_locator.clone());
                let size = storage
                    .vault
                    .put_stream(&key, &mv.content_type, body)
                    .await?;
                (mv.to_locator.clone(), size)
            }
            Some(connection) => {
                let Location::Cloud { path, .. } = Location::parse(&mv.to_locator) else {
                    return Err(anyhow::anyhow!(
                        "move target {} is not a cloud locator",
                        mv.to_locator
                    )
                    .into());
                };
                storage
                    .put_cloud(
                        connection,
                        path,
                        &mv.content_type,
                        body,
                        u64::try_from(mv.size_bytes).ok(),
                    )
                    .await?
            }
        };
        let source = digest_of(&seen);
        let expected = u64::try_from(mv.size_bytes).unwrap_or(0);
        if size != expected || source.1 != expected {
            return Err(Error::unavailable(
                crate::error::Dependency::CloudStorage,
                anyhow::anyhow!("the copy has {size} bytes, the document {expected}"),
            ));
        }
        let (back, read) = hashing(storage.get_stream(&locator).await?);
        let mut back = back;
        while let Some(chunk) = back.next().await {
            chunk?;
        }
        if digest_of(&read) != source {
            return Err(Error::unavailable(
                crate::error::Dependency::CloudStorage,
                anyhow::anyhow!("the copy read back differs from the document"),
            ));
        }
        Ok(locator)
    }

    async fn after_switch(&self, mv: &TakenMove) {
        let db = &self.pipeline.db;
        // The old copy is on the clean-up list (due now) since the switch: deleted here, or by
        // the clean-up if its backend cannot be reached now.
        match self.pipeline.storage.delete(&mv.from_locator).await {
            Ok(()) => {
                if let Err(e) = crate::db::object_cleanup::forget(db, &mv.from_locator).await {
                    tracing::debug!(error = %e.chain(), "cleanup entry left for the worker");
                }
            }
            Err(e) => {
                tracing::warn!(document_id = %mv.document_id, error = %e.chain(), "the old copy is left for the clean-up")
            }
        }
        let to = mv
            .to_connection_id
            .map_or_else(|| "vault".to_owned(), |c| c.to_string());
        if let Err(e) = activity::record(
            db,
            mv.document_id,
            mv.user_id,
            activity::Kind::StorageMoved,
            serde_json::json!({ "to": to }),
        )
        .await
        {
            tracing::warn!(error = %e.chain(), "cannot record the document's activity");
        }
        tracing::info!(document_id = %mv.document_id, to = %to, "document moved");
    }

    /// A backend that cannot be reached: the move is tried again later (it shows why). Anything
    /// else (credentials refused, no room, the file gone) will not get better by waiting: the
    /// move is dropped, and the document's history says why.
    async fn after_failure(&self, mv: &TakenMove, e: Error) {
        let db = &self.pipeline.db;
        let reason = match &e {
            Error::Unavailable { .. } => e.chain(),
            Error::Internal(_) => "an internal error interrupted the move".to_owned(),
            other => other.to_string(),
        };
        let retry = matches!(e, Error::Unavailable { .. } | Error::Internal(_));
        if retry {
            let wait = backoff(mv.attempts);
            tracing::warn!(document_id = %mv.document_id, error = %e.chain(), retry_in_secs = wait.as_secs(), "move failed; trying again later");
            if let Err(e) = q::retry_later(db, mv.document_id, mv.attempts, wait, &reason).await {
                tracing::warn!(error = %e.chain(), "cannot put the move off");
            }
            return;
        }
        tracing::warn!(document_id = %mv.document_id, error = %e.chain(), "move given up");
        match q::drop_move(db, mv.document_id, mv.attempts).await {
            Ok(true) => {
                if let Err(e) = activity::record(
                    db,
                    mv.document_id,
                    mv.user_id,
                    activity::Kind::StorageMoveFailed,
                    serde_json::json!({ "reason": reason }),
                )
                .await
                {
                    tracing::warn!(error = %e.chain(), "cannot record the document's activity");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e.chain(), "cannot drop the move"),
        }
    }
}

type Seen = Arc<Mutex<(Sha256, u64)>>;

/// Passes `body` through, hashing and counting what passes.
fn hashing(body: ByteStream<'static>) -> (ByteStream<'static>, Seen) {
    let seen: Seen = Arc::new(Mutex::new((Sha256::new(), 0)));
    let tap = Arc::clone(&seen);
    let body = body
        .map(move |chunk| {
            if let Ok(bytes) = &chunk
                && let Ok(mut s) = tap.lock()
            {
                s.0.update(bytes);
                s.1 += bytes.len() as u64;
            }
            chunk
        })
        .boxed();
    (body, seen)
}

fn digest_of(seen: &Seen) -> (Vec<u8>, u64) {
    match seen.lock() {
        Ok(s) => (s.0.clone().finalize().to_vec(), s.1),
        Err(_) => (Vec::new(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(8), Duration::from_secs(3600));
        assert_eq!(backoff(50), Duration::from_secs(3600));
    }
}
