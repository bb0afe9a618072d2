//! `frontmon-admin sourcemaps`: uploads a build's source maps to the processor's API, lists
//! and deletes them.
//!
//! [`upload`] walks a build directory for `*.map` files. Each map's minified file is the same
//! path without `.map`, or else the file whose `//# sourceMappingURL=` names the map; it is
//! named `<url prefix>/<its path in the directory>`, as frames will name it, and uploaded with
//! its map. With a release the maps are matched by release and name; without one, by the
//! debug id each map (or its minified file) must carry.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, RequestBuilder, Url};
use serde_json::Value;
use shared::config::Settings;
use shared::event::ProjectId;

/// How far from the end of a file its `sourceMappingURL` comment is looked for.
const COMMENT_TAIL_BYTES: u64 = 4096;
/// Files that may name a map in a `sourceMappingURL` comment.
const MINIFIED_EXTENSIONS: [&str; 4] = ["js", "mjs", "cjs", "css"];

#[derive(Debug, thiserror::Error)]
pub enum SourcemapsError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no *.map file under {0}")]
    NoMaps(PathBuf),
    #[error("cannot reach the processor")]
    Http(#[from] reqwest::Error),
    #[error("the processor answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

fn usage(message: impl Into<String>) -> SourcemapsError {
    SourcemapsError::Usage(message.into())
}

/// Where the processor's API is, and how to authenticate to it.
pub struct Api {
    base: Url,
    token: String,
    project: ProjectId,
    http: Client,
}

impl Api {
    /// `api`, `token` and `project` default to the configuration's.
    pub fn new(
        settings: &Settings,
        api: Option<&str>,
        token: Option<&str>,
        project: Option<&str>,
    ) -> Result<Self, SourcemapsError> {
        let base = match api {
            Some(api) => api
                .parse::<Url>()
                .map_err(|e| usage(format!("--api {api}: {e}")))?,
            None => format!("http://127.0.0.1:{}", settings.processor.listen.port())
                .parse()
                .map_err(|e| usage(format!("processor.listen: {e}")))?,
        };
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(usage(format!("--api {base}: not an http(s) URL")));
        }
        let project = match project {
            Some(project) => project
                .parse()
                .map_err(|_| usage(format!("--project {project}: not a project id")))?,
            None => match settings.projects.as_slice() {
                [only] => only.id,
                _ => return Err(usage("several projects are configured: pass --project")),
            },
        };
        let http = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Large maps over a slow link.
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Self {
            base,
            token: token
                .unwrap_or(settings.processor.admin_token.expose())
                .to_owned(),
            project,
            http,
        })
    }

    /// `/api/projects/{project}/` and `segments`, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "projects", &self.project.to_string()])
                .extend(segments);
        }
        url
    }

    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.to(method, self.url(segments))
    }

    fn to(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// The sourcemaps of a release (`Some`), or the release-less ones (`None`).
    fn sourcemaps(&self, method: Method, release: Option<&str>) -> RequestBuilder {
        match release {
            Some(release) => self.request(method, &["releases", release, "sourcemaps"]),
            None => self.request(method, &["sourcemaps"]),
        }
    }
}

/// Sends `request`; the JSON body of a 2xx, or the API's error.
pub(crate) async fn send(request: RequestBuilder) -> Result<Value, SourcemapsError> {
    body(request.send().await?).await
}

/// The JSON body of a 2xx, or the API's error.
async fn body(response: reqwest::Response) -> Result<Value, SourcemapsError> {
    let status = response.status();
    let text = response.text().await?;
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(SourcemapsError::Api {
        status: status.as_u16(),
        message,
    })
}

/// A map found in the build directory, and what goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildMap {
    /// The map's path relative to the directory, `/`-separated.
    pub map: String,
    /// The minified file's, if found.
    pub minified: Option<String>,
    /// What frames will call the minified file.
    pub name: String,
}

/// Every `*.map` under `dir` with its minified file and name, in path order.
pub fn find_maps(dir: &Path, url_prefix: &str) -> Result<Vec<BuildMap>, SourcemapsError> {
    let prefix = url_prefix.trim_end_matches('/');
    let valid = prefix == "~"
        || prefix.starts_with("~/")
        || prefix.starts_with("http://")
        || prefix.starts_with("https://");
    if !valid {
        return Err(usage(format!(
            "--url-prefix {url_prefix}: ~, ~/path or an http(s) URL"
        )));
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let (maps, others): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|file| file.ends_with(".map"));
    if maps.is_empty() {
        return Err(SourcemapsError::NoMaps(dir.to_owned()));
    }
    let mut named_by: Option<HashMap<String, String>> = None;
    let mut found = Vec::with_capacity(maps.len());
    for map in maps {
        let stem = map.trim_end_matches(".map").to_owned();
        let minified = if others.binary_search(&stem).is_ok() {
            Some(stem.clone())
        } else {
            if named_by.is_none() {
                named_by = Some(mapping_comments(dir, &others));
            }
            named_by.as_ref().and_then(|by| by.get(&map)).cloned()
        };
        let name = format!("{prefix}/{}", minified.as_deref().unwrap_or(&stem));
        found.push(BuildMap {
            map,
            minified,
            name,
        });
    }
    Ok(found)
}

/// The files under `dir`, relative to `root`; directories reached through links are skipped.
fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) -> Result<(), SourcemapsError> {
    let read = |source| SourcemapsError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(read)?;
        if kind.is_dir() {
            walk(root, &path, files)?;
        } else if path.is_file()
            && let Ok(relative) = path.strip_prefix(root)
        {
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}

/// Map path → the file whose `sourceMappingURL` comment names it.
fn mapping_comments(dir: &Path, files: &[String]) -> HashMap<String, String> {
    let mut named = HashMap::new();
    for file in files {
        let extension = file.rsplit_once('.').map_or("", |(_, ext)| ext);
        if !MINIFIED_EXTENSIONS.contains(&extension) {
            continue;
        }
        let Some(url) = tail(&dir.join(file)).as_deref().and_then(mapping_url) else {
            continue;
        };
        if let Some(map) = resolve(file, &url) {
            named.entry(map).or_insert_with(|| file.clone());
        }
    }
    named
}

/// The last bytes of a file, as text; `None` if it cannot be read.
fn tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(COMMENT_TAIL_BYTES)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The URL in the last `//# sourceMappingURL=` (or `/*# … */`, or the old `//@`) comment.
fn mapping_url(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let rest = ["//# ", "//@ ", "/*# ", "/*@ "]
            .iter()
            .find_map(|start| line.strip_prefix(start))?
            .strip_prefix("sourceMappingURL=")?;
        let url = rest.trim_end_matches("*/").trim();
        (!url.is_empty() && !url.starts_with("data:")).then(|| url.to_owned())
    })
}

/// The path, relative to the build directory, of the map `url` names from `file`.
fn resolve(file: &str, url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next()?;
    let path = match url.split_once("://") {
        // An absolute URL: its path, which the build directory's layout must end.
        Some((_, rest)) => rest.split_once('/')?.1.to_owned(),
        None if url.starts_with('/') => url.trim_start_matches('/').to_owned(),
        None => match file.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{url}"),
            None => url.to_owned(),
        },
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// What [`upload`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UploadSummary {
    pub uploaded: usize,
    pub replaced: usize,
    pub failed: usize,
}

impl fmt::Display for UploadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} source map(s) uploaded ({} replaced), {} failed",
            self.uploaded, self.replaced, self.failed
        )
    }
}

/// Uploads every map under `dir`, printing one line per map and a summary to `out`.
pub async fn upload(
    api: &Api,
    release: Option<&str>,
    url_prefix: &str,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<UploadSummary, SourcemapsError> {
    let maps = find_maps(dir, url_prefix)?;
    let mut summary = UploadSummary::default();
    for found in &maps {
        match upload_one(api, release, dir, found).await {
            Ok(stored) => {
                let replaced = stored["replaced"] == true;
                summary.uploaded += 1;
                summary.replaced += usize::from(replaced);
                let minified = match &found.minified {
                    Some(file) => format!("with {file}"),
                    None => "no minified file".to_owned(),
                };
                let debug_id = stored["debug_id"].as_str().unwrap_or("none");
                writeln!(
                    out,
                    "{:<9} {}  ({}, {minified}, {} bytes, debug id {debug_id})",
                    if replaced { "replaced" } else { "uploaded" },
                    found.name,
                    found.map,
                    stored["size_bytes"],
                )?;
            }
            Err(error) => {
                summary.failed += 1;
                writeln!(
                    out,
                    "{:<9} {}  ({}): {}",
                    "FAILED",
                    found.name,
                    found.map,
                    chain(&error)
                )?;
            }
        }
    }
    writeln!(out, "{summary}")?;
    Ok(summary)
}

/// The stored map as the API returned it, with `"replaced"` set.
async fn upload_one(
    api: &Api,
    release: Option<&str>,
    dir: &Path,
    found: &BuildMap,
) -> Result<Value, SourcemapsError> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).map_err(|source| SourcemapsError::Read { path, source })
    };
    let mut form = Form::new().text("name", found.name.clone()).part(
        "sourcemap",
        Part::bytes(read(&found.map)?).file_name(file_name(&found.map)),
    );
    if let Some(minified) = &found.minified {
        form = form.part(
            "minified",
            Part::bytes(read(minified)?).file_name(file_name(minified)),
        );
    }
    let response = api
        .sourcemaps(Method::POST, release)
        .multipart(form)
        .send()
        .await?;
    let replaced = response.status() == reqwest::StatusCode::OK;
    let mut stored = body(response).await?;
    stored["replaced"] = Value::Bool(replaced);
    Ok(stored)
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// An error with its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What to list or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Release(String),
    DebugId(String),
    Id(i64),
}

/// Prints the maps of a release or with a debug id, one a line; returns how many.
pub async fn list(
    api: &Api,
    selection: &Selection,
    out: &mut dyn Write,
) -> Result<usize, SourcemapsError> {
    let request = match selection {
        Selection::Release(release) => api.sourcemaps(Method::GET, Some(release)),
        Selection::DebugId(id) => {
            let mut url = api.url(&["sourcemaps"]);
            url.query_pairs_mut().append_pair("debug_id", id);
            api.to(Method::GET, url)
        }
        Selection::Id(_) => return Err(usage("list takes --release or --debug-id")),
    };
    let body = send(request).await?;
    let maps = body["sourcemaps"].as_array().cloned().unwrap_or_default();
    for map in &maps {
        writeln!(
            out,
            "{:>8}  {:>10}  {:<11}  {:<36}  {:<12}  {}",
            map["id"],
            map["size_bytes"],
            if map["has_minified"] == true {
                "minified"
            } else {
                "map only"
            },
            map["debug_id"].as_str().unwrap_or("-"),
            match map["release"].as_str() {
                Some("") | None => "-",
                Some(release) => release,
            },
            map["name"].as_str().unwrap_or_default(),
        )?;
    }
    writeln!(out, "{} source map(s)", maps.len())?;
    Ok(maps.len())
}

/// Deletes the maps of a release, or one by id; returns how many were deleted.
pub async fn delete(
    api: &Api,
    selection: &Selection,
    out: &mut dyn Write,
) -> Result<u64, SourcemapsError> {
    let deleted = match selection {
        Selection::Release(release) => {
            let body = send(api.sourcemaps(Method::DELETE, Some(release))).await?;
            body["deleted"].as_u64().unwrap_or(0)
        }
        Selection::Id(id) => {
            send(api.request(Method::DELETE, &["sourcemaps", &id.to_string()])).await?;
            1
        }
        Selection::DebugId(_) => return Err(usage("delete takes --release or --id")),
    };
    writeln!(out, "{deleted} source map(s) deleted")?;
    Ok(deleted)
}

/// A parsed `sourcemaps` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Upload {
        release: Option<String>,
        url_prefix: String,
        dir: PathBuf,
    },
    List(Selection),
    Delete(Selection),
}

/// The options every subcommand takes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Connection {
    pub api: Option<String>,
    pub token: Option<String>,
    pub project: Option<String>,
}

/// Runs a parsed command against the API; `Ok(false)` when an upload failed.
pub async fn run(
    settings: &Settings,
    command: &Command,
    connection: &Connection,
    out: &mut dyn Write,
) -> Result<bool, SourcemapsError> {
    let api = Api::new(
        settings,
        connection.api.as_deref(),
        connection.token.as_deref(),
        connection.project.as_deref(),
    )?;
    match command {
        Command::Upload {
            release,
            url_prefix,
            dir,
        } => {
            let summary = upload(&api, release.as_deref(), url_prefix, dir, out).await?;
            Ok(summary.failed == 0)
        }
        Command::List(selection) => list(&api, selection, out).await.map(|_| true),
        Command::Delete(selection) => delete(&api, selection, out).await.map(|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_comment_names_a_map_relative_to_its_file() {
        let text = "x();\n//# sourceMappingURL=app.js.map\n";
        assert_eq!(mapping_url(text).as_deref(), Some("app.js.map"));
        assert_eq!(
            mapping_url("a{}\n/*# sourceMappingURL=site.css.map */").as_deref(),
            Some("site.css.map")
        );
        assert_eq!(
            mapping_url("//# sourceMappingURL=data:application/json;base64,e30="),
            None
        );
        assert_eq!(mapping_url("x();"), None);
        assert_eq!(
            resolve("js/app.js", "app.js.map").as_deref(),
            Some("js/app.js.map")
        );
        assert_eq!(
            resolve("js/app.js", "../maps/app.js.map?v=1").as_deref(),
            Some("maps/app.js.map")
        );
        assert_eq!(
            resolve("app.js", "/maps/app.js.map").as_deref(),
            Some("maps/app.js.map")
        );
        assert_eq!(
            resolve("app.js", "https://cdn.example/maps/app.js.map").as_deref(),
            Some("maps/app.js.map")
        );
        assert_eq!(resolve("app.js", "../../x.map"), None);
    }
}
