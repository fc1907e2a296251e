//! Users and who is calling: `GET /v1/me` (the authenticated principal), `GET /v1/users`
//! (`Gavel::list_users`), `POST /v1/users` (`Gavel::create_user`), `GET /v1/users/{id}`
//! (`Gavel::get_user`), `POST /v1/users/{id}/role` (`Gavel::set_user_role`),
//! `POST /v1/users/{id}/deactivate` (`Gavel::deactivate_user`) and `POST /v1/users/{id}/rotate`
//! (`Gavel::rotate_user_credential`).

use super::{as_caller, created, ApiJson, ApiPath, Bearer, MaybeJson, NoBody, ReasonBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::identity::Issued;
use gavel_core::{Agent, CoreError, Principal, Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[utoipa::path(get, path = "/v1/me", responses((status = 200, description = "The calling principal", body = Me)), security(("bearer" = [])))]
pub(super) async fn me(State(s): State<AppState>, b: Bearer) -> Result<Json<Me>, ApiError> {
    as_caller(&s, b, |_, p| {
        Ok(match p {
            Principal::User(u) => Me::User { user: u.clone() },
            Principal::Agent(a) => Me::Agent { agent: a.clone() },
            Principal::Operator(_) => {
                return Err(CoreError::Forbidden("no token names the local operator".into()))
            }
        })
    })
    .await
    .map(Json)
}

/// `GET /v1/me`: who the token belongs to.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Me {
    User { user: User },
    Agent { agent: Agent },
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub name: String,
    pub role: Role,
}

#[utoipa::path(post, path = "/v1/users", request_body = NewUserBody, responses((status = 201, description = "The user and its token (shown once)", body = Issued<User>)), security(("bearer" = [])))]
pub(super) async fn create_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_user(p, &body.name, body.role)).await.map(created)
}

#[utoipa::path(get, path = "/v1/users", responses((status = 200, description = "All users", body = List<User>)), security(("bearer" = [])))]
pub(super) async fn list_users(State(s): State<AppState>, b: Bearer) -> Result<Json<List<User>>, ApiError> {
    as_caller(&s, b, |g, p| g.list_users(p)).await.map(|l| Json(List::of(l)))
}

#[utoipa::path(get, path = "/v1/users/{id}", params(("id" = String, Path, description = "id or name")), responses((status = 200, description = "One user", body = User)), security(("bearer" = [])))]
pub(super) async fn get_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<User>, ApiError> {
    as_caller(&s, b, move |g, p| g.get_user(p, &id)).await.map(Json)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: Role,
}

#[utoipa::path(post, path = "/v1/users/{id}/role", request_body = RoleBody, params(("id" = String, Path)), responses((status = 200, description = "The user with its new role", body = User)), security(("bearer" = [])))]
pub(super) async fn set_role(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<User>, ApiError> {
    as_caller(&s, b, move |g, p| g.set_user_role(p, &id, body.role)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/users/{id}/deactivate", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)), responses((status = 200, description = "The deactivated user", body = User)), security(("bearer" = [])))]
pub(super) async fn deactivate_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<User>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.deactivate_user(p, &id, &reason)).await.map(Json)
}

#[utoipa::path(post, path = "/v1/users/{id}/rotate", params(("id" = String, Path)), responses((status = 200, description = "The user and its new token; the old one is revoked", body = Issued<User>)), security(("bearer" = [])))]
pub(super) async fn rotate_user(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    _: NoBody,
) -> Result<Json<Issued<User>>, ApiError> {
    as_caller(&s, b, move |g, p| g.rotate_user_credential(p, &id)).await.map(Json)
}
