//! `GET /sdk/v1/frontmon.min.js` and `GET /sdk/<version>/frontmon.min.js`: frontmon's browser
//! SDK (`sdk/`), the script-tag build, embedded in the binary so that a container needs no
//! file and `cargo build` needs no node: `sdk/dist/` is committed, and the SDK's own tests
//! fail when it differs from a fresh build of `sdk/src/`.
//!
//! Served as a CDN would serve it: a strong `ETag` per encoding, `304` on `If-None-Match`,
//! the brotli or gzip file compressed at build time when the client accepts it, readable from
//! any origin. `v1` follows the newest release and is cached for an hour; the versioned path
//! never changes and is cached for a year.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

pub const PATH: &str = "/sdk/{version}/frontmon.min.js";

const SCRIPT: &[u8] = include_bytes!("../../sdk/dist/frontmon.min.js");
const SCRIPT_GZIP: &[u8] = include_bytes!("../../sdk/dist/frontmon.min.js.gz");
const SCRIPT_BROTLI: &[u8] = include_bytes!("../../sdk/dist/frontmon.min.js.br");
const PACKAGE_JSON: &str = include_str!("../../sdk/package.json");

const LATEST: &str = "v1";
const LATEST_CACHE: &str = "public, max-age=3600";
const VERSIONED_CACHE: &str = "public, max-age=31536000, immutable";

/// The embedded files and what is derived from them once.
struct Sdk {
    version: String,
    /// Hex of the first 16 bytes of the script's SHA-256: the ETag's stem.
    digest: String,
}

static SDK: LazyLock<Sdk> = LazyLock::new(|| {
    let version = serde_json::from_str::<serde_json::Value>(PACKAGE_JSON)
        .ok()
        .and_then(|package| package["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let digest = Sha256::digest(SCRIPT);
    Sdk {
        version,
        digest: hex::encode(&digest[..16]),
    }
});

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    fn body(self) -> &'static [u8] {
        match self {
            Encoding::Brotli => SCRIPT_BROTLI,
            Encoding::Gzip => SCRIPT_GZIP,
            Encoding::Identity => SCRIPT,
        }
    }

    /// Each encoding is other bytes, so a strong ETag of its own.
    fn etag(self) -> String {
        let suffix = match self {
            Encoding::Brotli => "-br",
            Encoding::Gzip => "-gz",
            Encoding::Identity => "",
        };
        format!("\"{}{suffix}\"", SDK.digest)
    }
}

/// The best encoding `Accept-Encoding` allows: brotli, then gzip, then none. A coding with
/// `q=0` is refused; `*` stands for any coding not named.
fn negotiate(accept: Option<&str>) -> Encoding {
    let mut br = None;
    let mut gzip = None;
    let mut any = None;
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let acceptable = parts
            .filter_map(|param| {
                let (name, value) = param.split_once('=')?;
                (name.trim().eq_ignore_ascii_case("q")).then(|| value.trim().parse::<f32>().ok())
            })
            .next()
            .flatten()
            .is_none_or(|q| q > 0.0);
        match coding.as_str() {
            "br" => br = Some(acceptable),
            "gzip" | "x-gzip" => gzip = Some(acceptable),
            "*" => any = Some(acceptable),
            _ => {}
        }
    }
    if br.or(any) == Some(true) {
        Encoding::Brotli
    } else if gzip.or(any) == Some(true) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Whether `If-None-Match` names the script in any of its encodings (weak comparison, as
/// RFC 9110 asks for this header): the client's copy is current.
fn not_modified(if_none_match: Option<&str>) -> bool {
    let Some(value) = if_none_match else {
        return false;
    };
    value.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || [Encoding::Brotli, Encoding::Gzip, Encoding::Identity]
                .iter()
                .any(|encoding| tag.trim_start_matches("W/") == encoding.etag())
    })
}

/// `GET`/`HEAD /sdk/{version}/frontmon.min.js`.
pub async fn script(request: HttpRequest, version: web::Path<String>) -> HttpResponse {
    let cache = if version.as_str() == LATEST {
        LATEST_CACHE
    } else if version.as_str() == SDK.version {
        VERSIONED_CACHE
    } else {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": format!("no SDK version {:?}: use {LATEST:?} or {:?}", version.as_str(), SDK.version)
        }));
    };
    let headers = request.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let encoding = negotiate(text(header::ACCEPT_ENCODING));
    let current = not_modified(text(header::IF_NONE_MATCH));
    let mut response = if current {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, encoding.etag()))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        // A page that isolates itself (COEP require-corp) may still load it.
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if current {
        return response.finish();
    }
    if encoding != Encoding::Identity {
        let name = if encoding == Encoding::Brotli {
            "br"
        } else {
            "gzip"
        };
        response.insert_header((header::CONTENT_ENCODING, name));
    }
    response
        .content_type("text/javascript; charset=utf-8")
        .body(encoding.body())
}

/// Any other method: 405 naming the two that work.
pub async fn wrong_method(request: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .json(serde_json::json!({
            "error": format!("method {} is not allowed here: GET or HEAD", request.method())
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_then_gzip_then_nothing() {
        assert_eq!(negotiate(Some("gzip, deflate, br, zstd")), Encoding::Brotli);
        assert_eq!(negotiate(Some("gzip, deflate")), Encoding::Gzip);
        assert_eq!(negotiate(Some("br;q=0, gzip;q=0.5")), Encoding::Gzip);
        assert_eq!(negotiate(Some("identity")), Encoding::Identity);
        assert_eq!(negotiate(None), Encoding::Identity);
        assert_eq!(negotiate(Some("*")), Encoding::Brotli);
        assert_eq!(negotiate(Some("*;q=0")), Encoding::Identity);
        assert_eq!(negotiate(Some("BR; Q=1")), Encoding::Brotli);
    }

    #[test]
    fn any_encodings_etag_is_current() {
        for encoding in [Encoding::Brotli, Encoding::Gzip, Encoding::Identity] {
            assert!(not_modified(Some(&encoding.etag())));
            assert!(not_modified(Some(&format!("\"x\", W/{}", encoding.etag()))));
        }
        assert!(not_modified(Some("*")));
        assert!(!not_modified(Some("\"0123\"")));
        assert!(!not_modified(None));
    }

    #[test]
    // Decodes the embedded, known-size script, not a body from the internet.
    #[allow(clippy::disallowed_types)]
    fn the_embedded_files_are_the_same_script() {
        let mut gunzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(SCRIPT_GZIP),
            &mut gunzipped,
        )
        .expect("gzip");
        assert_eq!(gunzipped, SCRIPT);
        let mut unbrotlied = Vec::new();
        std::io::Read::read_to_end(
            &mut brotli_decompressor::Decompressor::new(SCRIPT_BROTLI, 4096),
            &mut unbrotlied,
        )
        .expect("brotli");
        assert_eq!(unbrotlied, SCRIPT);
        assert!(!SDK.version.is_empty());
    }
}
