//! The static files, embedded in the binary and served under a path carrying a hash of their
//! content (`/assets/htmx-2.0.11.min.3f2a…9c.js`), so a browser may keep them for a year
//! (`immutable`) and a new build's files are new URLs.
//!
//! The vendored files are pinned (their version is in the name) and their licences sit
//! beside them in `dashboard/assets/`.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// The file's name in `dashboard/assets/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

impl Asset {
    /// `/assets/<stem>.<hash>.<ext>`
    pub fn path(&self) -> String {
        let digest = hex::encode(&Sha256::digest(self.bytes)[..8]);
        match self.name.rsplit_once('.') {
            Some((stem, ext)) => format!("/assets/{stem}.{digest}.{ext}"),
            None => format!("/assets/{}.{digest}", self.name),
        }
    }
}

pub const HTMX: Asset = Asset {
    name: "htmx-2.0.11.min.js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("../assets/htmx-2.0.11.min.js"),
};
pub const UPLOT: Asset = Asset {
    name: "uPlot-1.6.32.iife.min.js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("../assets/uPlot-1.6.32.iife.min.js"),
};
pub const UPLOT_CSS: Asset = Asset {
    name: "uPlot-1.6.32.min.css",
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("../assets/uPlot-1.6.32.min.css"),
};
pub const CSS: Asset = Asset {
    name: "dashboard.css",
    content_type: "text/css; charset=utf-8",
    bytes: include_bytes!("../assets/dashboard.css"),
};
pub const JS: Asset = Asset {
    name: "dashboard.js",
    content_type: "text/javascript; charset=utf-8",
    bytes: include_bytes!("../assets/dashboard.js"),
};

pub const ALL: [&Asset; 5] = [&HTMX, &UPLOT, &UPLOT_CSS, &CSS, &JS];

/// The URLs the pages link to. uPlot's are named by the pages that draw a chart, and
/// `dashboard.js` loads them there only (a boosted link swaps the body, not the head).
pub struct Urls {
    pub htmx: String,
    pub css: String,
    pub js: String,
    pub uplot: String,
    pub uplot_css: String,
    by_path: Vec<(String, &'static Asset)>,
}

pub fn urls() -> &'static Urls {
    static URLS: OnceLock<Urls> = OnceLock::new();
    URLS.get_or_init(|| Urls {
        htmx: HTMX.path(),
        css: CSS.path(),
        js: JS.path(),
        uplot: UPLOT.path(),
        uplot_css: UPLOT_CSS.path(),
        by_path: ALL.iter().map(|asset| (asset.path(), *asset)).collect(),
    })
}

/// `GET /assets/{file}`: only the current hashed names exist.
pub async fn serve(file: web::Path<String>) -> HttpResponse {
    let wanted = format!("/assets/{file}");
    match urls().by_path.iter().find(|(path, _)| *path == wanted) {
        Some((_, asset)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(asset.bytes),
        None => HttpResponse::NotFound()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip_len(bytes: &[u8]) -> usize {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap().len()
    }

    /// The JS and CSS a page may load, gzipped, stay within 60 KB; the heaviest page loads
    /// every file there is (the charts' pages: htmx, uPlot and both style sheets).
    #[test]
    fn every_page_loads_at_most_60_kb_of_gzipped_js_and_css() {
        let total: usize = ALL.iter().map(|asset| gzip_len(asset.bytes)).sum();
        assert!(total <= 60 * 1000, "JS + CSS: {total} bytes gzipped");
    }

    #[test]
    fn asset_paths_change_with_their_content() {
        let path = CSS.path();
        assert!(
            path.starts_with("/assets/dashboard.") && path.ends_with(".css"),
            "{path}"
        );
        let other = Asset {
            bytes: b"body{}",
            ..CSS
        };
        assert_ne!(other.path(), path);
    }
}
