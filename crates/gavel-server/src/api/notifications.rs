//! Notification channels for people (chat, generic JSON): `GET /v1/notifications/channels`
//! (`Gavel::notification_channels`), `POST /v1/notifications/channels`
//! (`Gavel::create_notification_channel`), `POST /v1/notifications/channels/{id}/disable`
//! (`Gavel::disable_notification_channel`) and `GET /v1/notifications/channels/{id}/deliveries`
//! (`Gavel::notification_deliveries`); admins only (core checks it). The dispatcher that sends
//! is `crate::notifications`.

use super::{as_caller, created, ApiJson, ApiPath, ApiQuery, Bearer, MaybeJson, ReasonBody};
use crate::error::ApiError;
use crate::openapi::List;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use gavel_core::notifications::{ChannelView, NewChannel, NotificationDelivery};
use serde::Deserialize;

#[utoipa::path(post, path = "/v1/notifications/channels", request_body = NewChannel,
    responses((status = 201, description = "The channel (its URL shown only as scheme, host and port)", body = ChannelView),
              (status = 400, description = "Bad name, URL, private target, event or filter"), (status = 403, description = "Admins only")),
    security(("bearer" = [])))]
pub(super) async fn create_channel(
    State(s): State<AppState>,
    b: Bearer,
    ApiJson(body): ApiJson<NewChannel>,
) -> Result<Response, ApiError> {
    as_caller(&s, b, move |g, p| g.create_notification_channel(p, body)).await.map(created)
}

#[utoipa::path(get, path = "/v1/notifications/channels",
    responses((status = 200, description = "Every channel with its attempt counts (admins only)", body = List<ChannelView>)),
    security(("bearer" = [])))]
pub(super) async fn list_channels(
    State(s): State<AppState>,
    b: Bearer,
) -> Result<Json<List<ChannelView>>, ApiError> {
    as_caller(&s, b, |g, p| Ok(List::of(g.notification_channels(p)?))).await.map(Json)
}

#[utoipa::path(post, path = "/v1/notifications/channels/{id}/disable", request_body(content = Option<ReasonBody>, description = "Optional: an empty body is accepted"), params(("id" = String, Path)),
    responses((status = 200, description = "Disabled (channels are never deleted)", body = ChannelView),
              (status = 409, description = "Already disabled")), security(("bearer" = [])))]
pub(super) async fn disable_channel(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    MaybeJson(body): MaybeJson<ReasonBody>,
) -> Result<Json<ChannelView>, ApiError> {
    let reason = body.and_then(|b| b.reason).unwrap_or_default();
    as_caller(&s, b, move |g, p| g.disable_notification_channel(p, &id, &reason)).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChannelDeliveriesQuery {
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/notifications/channels/{id}/deliveries", params(("id" = String, Path), ChannelDeliveriesQuery),
    responses((status = 200, description = "Each notice sent to the channel with its body and every attempt, newest first", body = List<NotificationDelivery>)),
    security(("bearer" = [])))]
pub(super) async fn channel_deliveries(
    State(s): State<AppState>,
    b: Bearer,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChannelDeliveriesQuery>,
) -> Result<Json<List<NotificationDelivery>>, ApiError> {
    as_caller(&s, b, move |g, p| Ok(List::of(g.notification_deliveries(p, &id, q.limit.unwrap_or(100))?)))
        .await
        .map(Json)
}
