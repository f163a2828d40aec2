//! Object keys, built in exactly one place: `{user_id}/{document_id}/{uuid4}{ext}`. Objects
//! stored before accounts existed keep their `null-user/…` keys (the row stores the key).
//! The extension comes from the sniffed [`FileKind`]; nothing a client sends ends up in a key.

use uuid::Uuid;

use crate::FileKind;

/// The key of a document's bytes in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// A fresh, unguessable key for a new document's bytes.
    pub fn for_document(owner: Uuid, document_id: Uuid, kind: FileKind) -> Self {
        Self(format!(
            "{owner}/{document_id}/{}{}",
            Uuid::new_v4(),
            kind.extension()
        ))
    }

    /// Re-wraps a key read back from the database (which only ever stored keys built above).
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the thumbnail of a document kept outside this store (in its owner's cloud) is
    /// kept: thumbnails are DocuVault's own, always in its store.
    pub fn thumbnail_for(owner: Uuid, document_id: Uuid) -> Self {
        Self(format!("{owner}/{document_id}/thumb.png"))
    }

    /// Where the document's thumbnail (a PNG of its first page) is kept: beside its bytes.
    pub fn thumbnail(&self) -> Self {
        Self(format!("{}.thumb.png", self.0))
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_key_schema() {
        let doc = Uuid::new_v4();
        let user = Uuid::new_v4();
        let key = ObjectKey::for_document(user, doc, FileKind::Pdf);
        let parts: Vec<&str> = key.as_str().split('/').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], user.to_string());
        assert_eq!(parts[1], doc.to_string());
        let (random, ext) = parts[2].split_at(36);
        assert!(Uuid::parse_str(random).is_ok());
        assert_eq!(ext, ".pdf");

        let key = ObjectKey::for_document(user, doc, FileKind::PlainText);
        assert!(key.as_str().starts_with(&format!("{user}/{doc}/")));
        assert!(key.as_str().ends_with(".txt"));
    }

    #[test]
    fn keys_for_the_same_document_differ() {
        let (doc, user) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(
            ObjectKey::for_document(user, doc, FileKind::Pdf),
            ObjectKey::for_document(user, doc, FileKind::Pdf)
        );
    }
}
