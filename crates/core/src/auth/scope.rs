//! What an API token may do. A sign-in may do everything; a token only what its scope allows,
//! decided from the request's method and its route template (`/api/documents/{id}`), so a new
//! route is refused to `upload` tokens until someone lists it here on purpose.

/// The scope of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiScope {
    /// Send documents in (the multipart upload and the presigned upload), and see one's own
    /// account and quota. Cannot read, change or delete anything stored.
    Upload,
    /// Read everything the user can read; change nothing.
    Read,
    /// Everything a user does with their documents, folders, topics, shares and settings.
    Full,
}

impl ApiScope {
    pub const ALL: [Self; 3] = [Self::Upload, Self::Read, Self::Full];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Read => "read",
            Self::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Whether a token of this scope may call `method` on `route` (the route's template).
    pub fn allows(self, method: &str, route: &str) -> bool {
        if session_only(route) {
            return false;
        }
        match self {
            Self::Full => true,
            Self::Read => matches!(method, "GET" | "HEAD"),
            Self::Upload => UPLOAD_ROUTES.contains(&(method, route)),
        }
    }
}

/// Routes an `upload` token may call.
const UPLOAD_ROUTES: [(&str, &str); 6] = [
    ("POST", "/api/documents/upload"),
    ("POST", "/api/uploads"),
    ("POST", "/api/uploads/{id}/complete"),
    // Abandoning one's own unfinished presigned upload stores nothing and deletes nothing kept.
    ("DELETE", "/api/uploads/{id}"),
    ("GET", "/api/me"),
    ("GET", "/api/me/quota"),
];

/// Account security and administration: a token leaked from a script must not be able to mint
/// more tokens, change the password or two-factor sign-in, end sign-ins, connect mailboxes
/// (credentials the workers would use), or act as an admin.
fn session_only(route: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "/api/me/tokens",
        "/api/me/mail-accounts",
        "/api/me/password",
        "/api/me/totp/",
        "/api/me/sessions",
        "/api/auth/",
        "/api/admin/",
    ];
    PREFIXES.iter().any(|p| route.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_decide() {
        for s in ApiScope::ALL {
            assert_eq!(ApiScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(ApiScope::parse("admin"), None);

        assert!(ApiScope::Upload.allows("POST", "/api/documents/upload"));
        assert!(!ApiScope::Upload.allows("GET", "/api/documents"));
        assert!(!ApiScope::Upload.allows("DELETE", "/api/documents/{id}"));
        assert!(ApiScope::Read.allows("GET", "/api/documents/{id}/download"));
        assert!(!ApiScope::Read.allows("POST", "/api/documents/upload"));
        assert!(!ApiScope::Read.allows("DELETE", "/api/documents/{id}"));
        assert!(ApiScope::Full.allows("DELETE", "/api/documents/{id}"));
        for scope in ApiScope::ALL {
            assert!(!scope.allows("POST", "/api/me/tokens"));
            assert!(!scope.allows("GET", "/api/me/tokens"));
            assert!(!scope.allows("POST", "/api/me/mail-accounts"));
            assert!(!scope.allows("POST", "/api/me/password"));
            assert!(!scope.allows("POST", "/api/auth/logout-all"));
            assert!(!scope.allows("GET", "/api/admin/users"));
        }
    }
}
