//! `/api/me/mail-accounts`: mailboxes whose mail attachments become the user's documents.
//! The password is write-only: no answer carries it.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path};
use docuvault_core::db::mail_accounts::MailAccountRow;
use docuvault_core::services::mail_accounts::NewMailbox;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mail_accounts, add_mail_account))
        .routes(routes!(remove_mail_account))
        .routes(routes!(check_mail_account))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailAccountInputDto {
    /// The IMAP server, e.g. `imap.example.org`.
    #[schema(min_length = 1, max_length = 253)]
    pub host: String,
    /// Default 993 for `tls`, 143 otherwise.
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<i64>,
    /// `tls` (port 993), `starttls` (143), or `none` (private addresses only).
    #[schema(pattern = "^(tls|starttls|none)$")]
    pub security: String,
    #[schema(min_length = 1, max_length = 320)]
    pub username: String,
    /// An app password where the provider has them. Write-only.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
    /// The folder to import from (default `INBOX`).
    #[schema(min_length = 1, max_length = 200)]
    pub folder: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailAccountDto {
    pub id: Uuid,
    pub host: String,
    pub port: i32,
    pub security: String,
    pub username: String,
    pub folder: String,
    /// `active`, or `error` with `last_error` saying why.
    pub status: String,
    pub last_error: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_check_at: DateTime<Utc>,
    /// Attachments imported so far.
    pub imported: i32,
    pub created_at: DateTime<Utc>,
}

impl From<MailAccountRow> for MailAccountDto {
    fn from(r: MailAccountRow) -> Self {
        Self {
            id: r.id,
            host: r.host,
            port: r.port,
            security: r.security,
            username: r.username,
            folder: r.folder,
            status: r.status,
            last_error: r.last_error,
            last_checked_at: r.last_checked_at,
            next_check_at: r.next_check_at,
            imported: r.imported,
            created_at: r.created_at,
        }
    }
}

/// The signed-in user's mailboxes.
#[utoipa::path(get, path = "/api/me/mail-accounts", tag = "me",
    responses((status = 200, body = Vec<MailAccountDto>), (status = 401, body = ErrorBody)))]
async fn list_mail_accounts(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Json<Vec<MailAccountDto>>, ApiError> {
    let rows = state.vault.mail_accounts(caller.id).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Connect a mailbox: DocuVault logs in and opens the folder once before it keeps anything;
/// then the workers import the attachments of its new mail.
#[utoipa::path(post, path = "/api/me/mail-accounts", tag = "me", request_body = MailAccountInputDto,
    responses((status = 201, body = MailAccountDto), (status = 401, body = ErrorBody),
              (status = 409, description = "too many mail accounts", body = ErrorBody),
              (status = 422, description = "invalid input, or the login or folder did not work", body = ErrorBody)))]
async fn add_mail_account(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Json(input): Json<MailAccountInputDto>,
) -> Result<(StatusCode, Json<MailAccountDto>), ApiError> {
    let row = state
        .vault
        .add_mail_account(
            caller.id,
            NewMailbox {
                host: input.host,
                // Out of range becomes 0, which the service refuses with `invalid_mail_port`.
                port: input.port.map(|p| u16::try_from(p).unwrap_or(0)),
                security: input.security,
                username: input.username,
                password: input.password,
                folder: input.folder,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Disconnect a mailbox (documents already imported stay).
#[utoipa::path(delete, path = "/api/me/mail-accounts/{id}", tag = "me", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_mail_account(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.remove_mail_account(caller.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Look at the mailbox now (within seconds, by a worker).
#[utoipa::path(post, path = "/api/me/mail-accounts/{id}/check", tag = "me", params(("id" = Uuid, Path)),
    responses((status = 202), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn check_mail_account(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.vault.check_mail_account(caller.id, id).await?;
    Ok(StatusCode::ACCEPTED)
}
