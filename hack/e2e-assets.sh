#!/usr/bin/env bash
# Builds the e2e control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) from Go modules,
# the way envtest runs it, into a cache folder outside the repo. Re-runs reuse what is already built.
#
#   KUBEBUILDER_ASSETS   folder with kube-apiserver, etcd, kubectl (setup-envtest layout): used as is, no build
#   E2E_ASSETS_DIR       output folder (default: $XDG_CACHE_HOME/projected-token-webhook/e2e/<k8s version>)
#   K8S_VERSION          k8s.io/kubernetes release (default below; 1.34 or newer)
#   ETCD_VERSION         go.etcd.io/etcd/server/v3 release (3.6.x)
#   E2E_BUILD_JOBS       go build -p (default 2)
#
# The tests find the assets through the pointer file $cache_root/current (one line: the folder).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
JOBS=${E2E_BUILD_JOBS:-2}
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/projected-token-webhook/e2e
pointer=$cache_root/current

gomodule_log_prefix=e2e-assets
source "$(dirname "$0")/lib/gomodule.sh"

publish() { # $1 = folder holding the binaries
	publish_pointer "$pointer" "$1"
	log "assets ready in $1 (pointer: $pointer)"
	echo "$1"
}

if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
	for bin in kube-apiserver etcd kubectl; do
		[[ -x $KUBEBUILDER_ASSETS/$bin ]] || die "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $bin"
	done
	[[ -x $KUBEBUILDER_ASSETS/kube-controller-manager ]] ||
		log "note: no kube-controller-manager in KUBEBUILDER_ASSETS; tests needing it adapt or skip"
	publish "$(cd "$KUBEBUILDER_ASSETS" && pwd)"
	exit 0
fi

[[ $K8S_VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "K8S_VERSION=$K8S_VERSION is not a v1.<minor>.<patch> release"
k8s_minor=${BASH_REMATCH[1]}
k8s_patch=${BASH_REMATCH[2]}
((k8s_minor >= 34)) || die "K8S_VERSION=$K8S_VERSION: need 1.34 or newer"
staging_version=v0.$k8s_minor.$k8s_patch
[[ $ETCD_VERSION =~ ^v3\.6\.[0-9]+$ ]] || die "ETCD_VERSION=$ETCD_VERSION is not a v3.6.x release"

assets=${E2E_ASSETS_DIR:-$cache_root/$K8S_VERSION}
# Bump recipe when the build itself changes, so caches built the old way are rebuilt.
stamp_text="kubernetes=$K8S_VERSION etcd=$ETCD_VERSION recipe=2"
binaries=(kube-apiserver kube-controller-manager kubectl etcd)

have_all() {
	[[ -f $assets/.stamp && $(cat "$assets/.stamp") == "$stamp_text" ]] || return 1
	for bin in "${binaries[@]}"; do [[ -x $assets/$bin ]] || return 1; done
}

if have_all; then
	log "reusing $stamp_text"
	publish "$assets"
	exit 0
fi

command -v go >/dev/null || die "go not found: install Go 1.26+ or set KUBEBUILDER_ASSETS to envtest assets"

start=$(date +%s)
mkdir -p "$assets"
rm -f "$assets/.stamp"
build_root=$cache_root/build
export CGO_ENABLED=0 GOFLAGS=-mod=mod
build=(nice -n 10 go build -p "$JOBS" -trimpath)

# --- kubernetes: a throwaway module requiring k8s.io/kubernetes, staging modules replaced by their releases
kube_mod=$build_root/kubernetes-$K8S_VERSION
log "resolving k8s.io/kubernetes@$K8S_VERSION"
throwaway_module e2e-kubernetes k8s.io/kubernetes "$K8S_VERSION" "$kube_mod" "$staging_version" k8s.io/
staging=$(grep -c "=> k8s.io/[^ ]* $staging_version\$" "$kube_mod/go.mod" || true)
((staging > 10)) || die "found only $staging staging modules in k8s.io/kubernetes@$K8S_VERSION's go.mod"
log "$staging staging modules replaced with $staging_version"

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
	# The module zip carries no git metadata: an empty gitCommit beats the "$Format:%H$" placeholder.
	kube_ldflags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
log "building kube-apiserver, kube-controller-manager, kubectl $K8S_VERSION (go build -p $JOBS; cold: tens of minutes)"
(cd "$kube_mod" && "${build[@]}" -ldflags "$kube_ldflags" -o "$assets/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kubectl)

# --- etcd: its own throwaway module (server/v3's upstream replace directives point at sibling folders; the
# released sibling modules at the same version stand in for them)
etcd_mod=$build_root/etcd-$ETCD_VERSION
throwaway_module e2e-etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$etcd_mod" "$ETCD_VERSION" go.etcd.io/etcd/
cat >"$etcd_mod/main.go" <<'EOF'
// Command etcd is the upstream etcd server entry point, built from go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
log "building etcd $ETCD_VERSION"
(cd "$etcd_mod" && "${build[@]}" -ldflags "-s -w" -o "$assets/etcd" .)

for bin in "${binaries[@]}"; do [[ -x $assets/$bin ]] || die "build produced no $assets/$bin"; done
"$assets/kube-apiserver" --version >&2
"$assets/etcd" --version | head -1 >&2
echo "$stamp_text" >"$assets/.stamp"
log "built in $(($(date +%s) - start))s"
publish "$assets"
