//! Which API a failed call was to: its host and path, with the variable parts of the path
//! (ids, UUIDs, hashes) collapsed, so `/api/orders/12` and `/api/orders/13` are one endpoint
//! and `https://shop.example/api/cart` is another.

use url::Url;

use super::normalize;

/// The host (with its port, when not the scheme's default) and normalized path of `target`,
/// resolved against the page's URL when it is relative, so `/api/cart` on
/// `https://shop.example/checkout` is `https://shop.example/api/cart`. Without a page URL a
/// relative target has no host (`""`) and groups by its path alone.
pub(super) fn endpoint(target: &str, page: Option<&str>) -> (String, String) {
    let target = target.trim();
    let resolved = match Url::parse(target) {
        Ok(url) => Some(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let page = page.and_then(|page| Url::parse(page).ok());
            match page {
                Some(page) => page.join(target).ok(),
                // `//api.example/x`: absolute but for its scheme.
                None if target.starts_with("//") => Url::parse(&format!("https:{target}")).ok(),
                None => None,
            }
        }
        Err(_) => None,
    };
    match resolved {
        Some(url) if url.host_str().is_some() => {
            let host = url.host_str().unwrap_or_default();
            let host = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            (host, normalize_path(url.path()))
        }
        // `blob:`, `data:` and the like: no host, the URL is all there is.
        Some(url) => (String::new(), normalize_path(without_query(url.as_str()))),
        None => (String::new(), normalize_path(without_query(target))),
    }
}

/// A page's route or path, its variable parts collapsed as an API path's are:
/// `/orders/12` → `/orders/<int>`; a route's own placeholders (`/orders/:id`) stay.
pub(super) fn page_path(page: &str) -> String {
    normalize_path(without_query(page.trim()))
}

fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Each segment normalized as messages are (`12` → `<int>`, UUIDs, hex hashes), except API
/// versions (`v2`), which name different endpoints; a trailing slash does not matter.
fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed
        .split('/')
        .map(|segment| {
            if is_version(segment) {
                segment.to_owned()
            } else {
                normalize(segment)
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix(['v', 'V'])
        .is_some_and(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_against_the_page_and_collapse_ids() {
        let page = Some("https://shop.example/checkout?step=2");
        let cart = ("shop.example".to_owned(), "/api/cart".to_owned());
        assert_eq!(endpoint("/api/cart", page), cart);
        assert_eq!(endpoint("https://shop.example/api/cart?x=1", None), cart);
        assert_eq!(endpoint("https://SHOP.example:443/api/cart/", page), cart);
        assert_eq!(endpoint("//shop.example/api/cart", None), cart);
        assert_eq!(endpoint("api/cart", Some("https://shop.example/")), cart);
        assert_eq!(
            endpoint(
                "http://localhost:8080/api/orders/12/items/6f1c0a6e-0b8e-4f6e-9a61-3c2b1a0f9e8d",
                None
            ),
            (
                "localhost:8080".to_owned(),
                "/api/orders/<int>/items/<uuid>".to_owned()
            )
        );
        assert_eq!(
            endpoint("/v2/files/3f2a1b9c7d", None),
            (String::new(), "/v2/files/<hex>".to_owned())
        );
        assert_eq!(endpoint("", None), (String::new(), "/".to_owned()));
    }
}
