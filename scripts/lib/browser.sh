# shellcheck shell=bash
#
# What the real-browser tests need: Debian's Chromium and the Node packages of e2e/browser/
# (the pinned @sentry/browser SDKs, playwright-core, esbuild), and those that build frontmon's
# own SDK (sdk/). Sourced, not run; installs only what is missing, and says nothing when
# everything is there.
#
# Needs root for apt-get (CI and the development machines run as root) and node/npm on PATH.

# The Chromium the driver launches (e2e/browser/drive.mjs reads FRONTMON_CHROMIUM too).
: "${FRONTMON_CHROMIUM:=/usr/bin/chromium}"

browser_log() {
    printf '==> %s\n' "$*" >&2
}

browser_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

ensure_chromium() {
    [[ -x $FRONTMON_CHROMIUM ]] && return 0
    [[ $FRONTMON_CHROMIUM == /usr/bin/chromium ]] ||
        browser_die "FRONTMON_CHROMIUM=$FRONTMON_CHROMIUM is not an executable."
    command -v apt-get >/dev/null 2>&1 ||
        browser_die "Chromium is missing and there is no apt-get to install it."
    browser_log "Installing Chromium (apt-get install chromium)."
    export DEBIAN_FRONTEND=noninteractive
    # An image whose package lists were cleaned knows no chromium until it is updated.
    if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
        apt-get update -qq >/dev/null || browser_die "apt-get update failed."
        apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
            browser_die "apt-get install chromium failed."
    fi
    [[ -x $FRONTMON_CHROMIUM ]] || browser_die "chromium is installed but $FRONTMON_CHROMIUM is missing."
}

ensure_browser_node_modules() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/e2e/browser"
    command -v npm >/dev/null 2>&1 || browser_die "npm is missing (apt-get install nodejs npm)."
    # npm ci rewrites node_modules/.package-lock.json, so it is newer than package-lock.json
    # exactly when node_modules matches the lock file.
    if [[ -f $dir/node_modules/.package-lock.json &&
        ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        return 0
    fi
    browser_log "Installing e2e/browser's Node packages (npm ci)."
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        browser_die "npm ci in $dir failed."
}

# The SDK's build tools (sdk/: the pinned esbuild and web-vitals), the same way.
ensure_sdk_node_modules() {
    local dir
    dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/sdk"
    command -v npm >/dev/null 2>&1 || browser_die "npm is missing (apt-get install nodejs npm)."
    if [[ -f $dir/node_modules/.package-lock.json &&
        ! $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        return 0
    fi
    browser_log "Installing sdk/'s Node packages (npm ci)."
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        browser_die "npm ci in $dir failed."
}

# Both; call before the tests that run e2e/browser/drive.mjs.
# A font with Chinese glyphs: the dashboard's 简体中文 screenshots show boxes without one.
ensure_cjk_font() {
    if command -v fc-list >/dev/null 2>&1 && [[ -n $(fc-list :lang=zh family 2>/dev/null) ]]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || return 0
    browser_log "Installing a Chinese font (apt-get install fonts-wqy-zenhei)."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends fonts-wqy-zenhei >/dev/null 2>&1 ||
        browser_log "fonts-wqy-zenhei could not be installed; Chinese screenshots will show boxes."
}

ensure_browser_deps() {
    ensure_chromium
    ensure_cjk_font
    ensure_browser_node_modules
}
