//! Documents that come in by themselves: a scanner's folder ([`watch`]) and mail attachments
//! ([`mail`], over [`imap`]). Each importer stores
//! through the same upload path as a person (sniffing, quota, the job), records the content's
//! SHA-256 with the document row so a file is imported once per user, and never deletes
//! anything it could not store.

pub mod imap;
pub mod mail;
pub mod watch;
