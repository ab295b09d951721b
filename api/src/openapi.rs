//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
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
    modifiers(&BearerAuth),
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
