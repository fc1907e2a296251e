//! The extractors every handler uses, and the one way a handler runs a core call: the JSON body
//! ([`ApiJson`]; [`MaybeJson`] where an empty body is allowed; [`NoBody`] where none is taken),
//! the query ([`ApiQuery`]) and path ([`ApiPath`]) parameters, each rejecting with gavel's error
//! shape; the bearer token ([`Bearer`]); and [`as_caller`], which authenticates the token and runs
//! the `gavel_core::Gavel` call with the caller's principal on the blocking pool.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use gavel_core::{CoreError, Gavel, Principal};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON body extractor whose rejections use gavel's error shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// An optional JSON body: an empty body is `None` (so `POST …/approve` needs no body at all).
pub struct MaybeJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for MaybeJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(MaybeJson(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| MaybeJson(Some(v)))
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// The body of a route that takes none: empty or `{}`. Anything else (malformed JSON, a field)
/// is a 400 before the handler runs, so a request the client got wrong never acts.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeJson::<serde_json::Map<String, Value>>::from_request(req, state).await? {
            MaybeJson(None) => Ok(NoBody),
            MaybeJson(Some(m)) if m.is_empty() => Ok(NoBody),
            MaybeJson(Some(m)) => Err(ApiError::bad_request(format!(
                "this route takes no body (empty or {{}}), not the fields {:?}",
                m.keys().take(5).collect::<Vec<_>>()
            ))),
        }
    }
}

/// Query extractor whose rejections use gavel's error shape.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(v) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// Path extractor whose rejections (a segment that is not a number, not UTF-8) use gavel's error
/// shape; axum's own answers them in plain text.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        Ok(ApiPath(v))
    }
}

/// The bearer token of the request (authenticated later, on the blocking pool) and the client
/// address it came from (`client_addr`; for the record of failed authentications).
pub struct Bearer {
    pub(crate) token: String,
    pub(crate) source: Option<std::net::IpAddr>,
}

impl Bearer {
    /// Notes a refused credential (aggregated into `auth.failures` events, see
    /// `gavel_core::auth_failures`) when `error` is an authentication failure.
    pub(crate) fn note_if_refused(&self, gavel: &Gavel, error: &CoreError) {
        if matches!(error, CoreError::Unauthenticated(_)) {
            gavel.note_failed_authentication(&self.token, self.source.map(|ip| ip.to_string()).as_deref());
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let unauthenticated =
            |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", m.to_string());
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthenticated("missing Authorization: Bearer <token>"))?;
        let value = value.to_str().map_err(|_| unauthenticated("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("Authorization must be a Bearer token"))?;
        let source = Some(crate::client_addr::ClientAddr::of(parts).0);
        Ok(Bearer { token: token.trim().to_string(), source })
    }
}

/// Runs a domain call for the authenticated caller on the blocking pool.
pub(crate) async fn as_caller<T: Send + 'static>(
    state: &AppState,
    bearer: Bearer,
    f: impl FnOnce(&Gavel, &Principal) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let gavel = state.gavel.clone();
    let (who, result) = tokio::task::spawn_blocking(move || {
        match gavel.authenticate_caller(&bearer.token).inspect_err(|e| bearer.note_if_refused(&gavel, e)) {
            Ok(principal) => {
                let actor = principal.actor();
                (Some(format!("{}:{}", actor.kind.as_str(), actor.id)), f(&gavel, &principal))
            }
            Err(e) => (None, Err(e)),
        }
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(who) = who {
        crate::access_log::note_principal(who);
    }
    result.map_err(ApiError::from)
}
