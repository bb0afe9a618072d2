//! The route table, beside the handlers it names; `startup` mounts it.

use actix_web::web;

use crate::{cors, faro, ingest, sdk_file, sentry};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/{project_id}/events")
            .route(web::post().to(ingest::ingest))
            .route(web::method(actix_web::http::Method::OPTIONS).to(cors::preflight))
            .default_service(web::to(ingest::wrong_method)),
    )
    // Sentry SDKs: `DSN = http://<key>@<host>[/<prefix>]/<project_id>`.
    .service(
        web::resource(sentry::ENVELOPE_PATHS)
            .route(web::post().to(sentry::envelope))
            .route(web::method(actix_web::http::Method::OPTIONS).to(sentry::preflight))
            .default_service(web::to(sentry::wrong_method)),
    )
    .service(
        web::resource(sentry::STORE_PATHS)
            .route(web::post().to(sentry::store))
            .route(web::method(actix_web::http::Method::OPTIONS).to(sentry::preflight))
            .default_service(web::to(sentry::wrong_method)),
    )
    // Grafana Faro's web SDK: `url: http://<host>[/<prefix>]/collect/<project_id>`.
    .service(
        web::resource(faro::PATHS)
            .route(web::post().to(faro::collect))
            .route(web::method(actix_web::http::Method::OPTIONS).to(faro::preflight))
            .default_service(web::to(faro::wrong_method)),
    )
    // The browser SDK's script-tag build, for pages to load from the collector itself.
    .service(
        web::resource(sdk_file::PATH)
            .route(web::get().to(sdk_file::script))
            .route(web::head().to(sdk_file::script))
            .default_service(web::to(sdk_file::wrong_method)),
    );
}
