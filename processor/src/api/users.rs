//! A user's data, for erasure requests (GDPR article 17, PIPL article 47):
//!
//! - `DELETE /api/projects/{id}/users/{user}`: deletes every event of the project whose
//!   `user.id` or `visitor_id` is `user`, and the keys that counted that user among an issue's
//!   affected users; answers `{"events": n, "user_keys": m}`, how many rows of each went.
//!   Issues' event and user counts are left as they are (totals hold no personal data), and
//!   another project's user with the same id is not touched.

use actix_web::{HttpRequest, HttpResponse, web};
use shared::query::{NoParams, Query};

use super::{ApiError, State, authorize, invalid};
use crate::db::erasure;
use crate::issues::user_key_of;

/// The longest user id looked for: the collector keeps ids far shorter.
const MAX_USER: usize = 1024;

pub async fn erase_user(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    _: Query<NoParams>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (project, user) = path.into_inner();
    let project = authorize(&request, &state, &project).await?;
    if user.len() > MAX_USER {
        return Err(invalid("user", format!("longer than {MAX_USER} bytes")));
    }
    let erased = erasure::erase_user(state.store.pool(), project, &user, user_key_of)
        .await
        .map_err(crate::db::StoreError::from)?;
    // The user id is what is being erased: not logged.
    tracing::info!(project_id = %project, events = erased.events, user_keys = erased.user_keys, "User erased.");
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "events": erased.events,
        "user_keys": erased.user_keys,
    })))
}
