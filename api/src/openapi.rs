//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::{
    Modify, OpenApi, PartialSchema,
    openapi::{
        Content, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::routes::{files, health, jobs};

/// The API's OpenAPI document, served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Favicon pipeline", description = "Upload domain lists; get each domain's favicon."),
    paths(
        files::upload_file, files::get_file, files::list_files, files::file_results,
        files::download_file, files::file_source,
        jobs::create_job, jobs::get_job, jobs::job_results, jobs::download_job,
        health::health, health::ready,
    ),
    modifiers(&BearerAuth, &Limits),
    tags((name = "files"), (name = "jobs"), (name = "operations"))
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

/// The answers every endpoint can give because of the middleware rather than its handler:
/// 408 (request timeout) everywhere and 429 (rate limit) wherever a key is needed. Added here
/// once, where an endpoint does not document them itself, so that no endpoint can miss them.
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
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(u64::schema())
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response.build().into()
}
