//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::{
    Modify, OpenApi, PartialSchema,
    openapi::{
        Content, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::routes::{
    events, file_actions as actions, file_counts, file_endpoints as files, health, icons, jobs,
    metrics, session, webhooks,
};

/// The API's OpenAPI document, served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Favicon pipeline", description = "Upload domain lists; get each domain's favicon."),
    paths(
        files::upload_file, files::get_file, files::list_files, files::file_results,
        files::download_file, files::file_source,
        actions::cancel_file, actions::retry_file, actions::delete_file,
        events::file_events, events::client_events,
        jobs::create_job, jobs::get_job, jobs::job_results, jobs::download_job,
        health::health, health::ready, health::openapi, metrics::metrics,
        webhooks::register_webhook, webhooks::get_webhook, webhooks::delete_webhook,
        webhooks::rotate_secret, webhooks::file_deliveries,
        session::sign_in, session::current_session, session::sign_out, file_counts::file_counts,
        icons::get_icon, icons::icons_zip,
    ),
    modifiers(&BearerAuth, &Limits),
    tags(
        (name = "files"), (name = "jobs"), (name = "icons"), (name = "webhooks"),
        (name = "session"), (name = "operations")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers every endpoint can give because of the router or middleware rather than its
/// handler: 405 (another method at this path, with `Allow`) and 408 (request timeout)
/// everywhere, and 429 (rate limit, failed authentications) wherever a key is needed. Added
/// here once, where an endpoint does not document them itself, so that no endpoint can miss
/// them.
struct Limits;

impl Modify for Limits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses.entry("405".to_owned()).or_insert_with(|| {
                    with_header(
                        ResponseBuilder::new()
                            .description(
                                "`method_not_allowed`: the path exists, but not with the method \
                                 used; `Allow` lists those it takes",
                            )
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            ),
                        "Allow",
                        String::schema(),
                        "The methods this path takes",
                    )
                    .build()
                    .into()
                });
                responses.entry("408".to_owned()).or_insert_with(|| {
                    error_response("No response within `REQUEST_TIMEOUT_SECS`", false)
                });
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    responses.entry("429".to_owned()).or_insert_with(|| {
                        error_response(
                            "`rate_limited`: more than `RATE_LIMIT_BURST` requests at once or \
                             `RATE_LIMIT_PER_SECOND` on average for this key; or \
                             `too_many_auth_failures`: this address sent `AUTH_FAILURE_LIMIT` \
                             wrong keys within `AUTH_FAILURE_WINDOW_SECS`",
                            true,
                        )
                    });
                }
            }
        }
    }
}

/// An `ErrorBody` response, with a `Retry-After` header when `retry` is set.
fn error_response(description: &str, retry: bool) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    if retry {
        response = with_header(
            response,
            "Retry-After",
            u64::schema(),
            "Seconds to wait before retrying",
        );
    }
    response.build().into()
}

/// `response` with a documented header.
fn with_header(
    response: ResponseBuilder,
    name: &str,
    schema: impl Into<RefOr<utoipa::openapi::schema::Schema>>,
    description: &str,
) -> ResponseBuilder {
    response.header(
        name,
        HeaderBuilder::new()
            .schema(schema)
            .description(Some(description))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_405_with_allow_and_the_document_itself_is_listed() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.contains_key("/openapi.json"));
        assert!(paths.contains_key("/metrics"));
        let mut operations = 0;
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let response = &operation["responses"]["405"];
                assert!(
                    response["headers"]["Allow"].is_object(),
                    "{method} {path}: {response}"
                );
                operations += 1;
            }
        }
        assert_eq!(operations, 30);
    }
}
