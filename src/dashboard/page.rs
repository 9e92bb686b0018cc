//! The live page at `/`: plain HTML, CSS and JavaScript over the API, with Chart.js vendored
//! (`page/vendor/`), all compiled into the binary so it works offline with no build step.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("page/index.html");

/// The assets the page loads, by name: (content type, body).
fn asset_body(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.js" => Some(("text/javascript", include_str!("page/app.js"))),
        "style.css" => Some(("text/css", include_str!("page/style.css"))),
        "chart.umd.min.js" => Some((
            "text/javascript",
            include_str!("page/vendor/chart.umd.min.js"),
        )),
        "LICENSE-chart.js.md" => Some((
            "text/plain; charset=utf-8",
            include_str!("page/vendor/LICENSE-chart.js.md"),
        )),
        _ => None,
    }
}

/// `GET /`.
pub async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

/// `GET /assets/{file}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match asset_body(&name) {
        Some((kind, body)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
