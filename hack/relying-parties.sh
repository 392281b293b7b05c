#!/usr/bin/env bash
# Builds the relying party the e2e journeys configure with our generators (OAuth2-Proxy) from Go modules into
# a cache folder outside the repo, the way hack/e2e-assets.sh builds the control plane. Re-runs reuse what is
# already built.
#
# Vault is not built: v1.21.4's go.mod replaces github.com/hashicorp/vault/sdk with its own ./sdk, and the
# released sdk module it falls back to here is older (vault/identity_store.go then fails to compile:
# ActivationFunc's signature differs); OpenBao's module path carries no /v2, so the Go module proxy serves none
# of its v2 releases. The Vault journeys run when VAULT_BIN names a vault (or bao) binary.
#
#   RELYING_PARTIES_DIR    output folder (default: $XDG_CACHE_HOME/projected-token-webhook/relying-parties/<recipe>)
#   OAUTH2_PROXY_VERSION   github.com/oauth2-proxy/oauth2-proxy/v7 release
#   E2E_BUILD_JOBS         go build -p (default 2)
#
# The tests find the binaries through the pointer file $cache_root/current (one line: the folder).
set -euo pipefail

OAUTH2_PROXY_VERSION=${OAUTH2_PROXY_VERSION:-v7.15.6}
JOBS=${E2E_BUILD_JOBS:-2}
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/projected-token-webhook/relying-parties
pointer=$cache_root/current

gomodule_log_prefix=relying-parties
source "$(dirname "$0")/lib/gomodule.sh"

[[ $OAUTH2_PROXY_VERSION =~ ^v7\.[0-9]+\.[0-9]+$ ]] ||
	die "OAUTH2_PROXY_VERSION=$OAUTH2_PROXY_VERSION is not a v7.<minor>.<patch> release"

# Bump recipe when the build itself changes, so caches built the old way are rebuilt.
stamp_text="oauth2-proxy=$OAUTH2_PROXY_VERSION recipe=2"
out=${RELYING_PARTIES_DIR:-$cache_root/oauth2-proxy-$OAUTH2_PROXY_VERSION}

publish() {
	publish_pointer "$pointer" "$out"
	log "relying parties ready in $out (pointer: $pointer)"
}

if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp_text" && -x $out/oauth2-proxy ]]; then
	log "reusing $stamp_text"
	publish
	exit 0
fi

command -v go >/dev/null || die "go not found: install Go 1.26+"
start=$(date +%s)
mkdir -p "$out"
rm -f "$out/.stamp"
build_root=$cache_root/build
export CGO_ENABLED=0 GOFLAGS=-mod=mod
build=(nice -n 10 go build -p "$JOBS" -trimpath)

if [[ ! -x $out/oauth2-proxy ]]; then
	oauth2_proxy_mod=$build_root/oauth2-proxy-$OAUTH2_PROXY_VERSION
	throwaway_module relying-party github.com/oauth2-proxy/oauth2-proxy/v7 "$OAUTH2_PROXY_VERSION" "$oauth2_proxy_mod"
	log "building oauth2-proxy $OAUTH2_PROXY_VERSION"
	# The module zip has no git metadata: the version comes in through ldflags, as upstream's Makefile does.
	(cd "$oauth2_proxy_mod" && "${build[@]}" -o "$out/oauth2-proxy.new" \
		-ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$OAUTH2_PROXY_VERSION" \
		github.com/oauth2-proxy/oauth2-proxy/v7)
	mv "$out/oauth2-proxy.new" "$out/oauth2-proxy"
	log "oauth2-proxy built after $(($(date +%s) - start))s"
fi

"$out/oauth2-proxy" --version >&2
echo "$stamp_text" >"$out/.stamp"
log "built in $(($(date +%s) - start))s"
publish
