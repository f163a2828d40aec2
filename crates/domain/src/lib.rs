//! DocuVault's domain: the types whose constructors are the only way in, and the rules that
//! need no I/O. Nothing here knows about HTTP, SQL or S3.

pub mod account;
pub mod classify;
pub mod document;
pub mod error;
pub mod file_kind;
pub mod filename;
pub mod object_key;
pub mod office;
pub mod settings;
pub mod text;
pub mod topic;

pub use account::{Email, Handle, Role};
pub use document::DocumentStatus;
pub use error::ValidationError;
pub use file_kind::FileKind;
pub use filename::Filename;
pub use object_key::ObjectKey;
pub use settings::{AiProviderKind, AiSettingsUpdate};
pub use topic::{TopicColor, TopicDescription, TopicName};
