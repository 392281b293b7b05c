#!/usr/bin/env bash
# Builds the tools the chart, KRM-function and alert-rule tests run (helm, standalone kustomize, promtool) from
# Go modules into a cache folder outside the repo, the way hack/e2e-assets.sh builds the control plane. Each
# tool has its own stamp: a version bump rebuilds that tool only, and re-runs reuse what is built.
#
#   GO_TOOLS_DIR         output folder (default: $XDG_CACHE_HOME/projected-token-webhook/tools/recipe-<n>)
#   HELM_VERSION         helm.sh/helm/v4 release
#   KUSTOMIZE_VERSION    sigs.k8s.io/kustomize/kustomize/v5 release (5.8.3 needs go 1.27: stay below it)
#   PROMETHEUS_VERSION   github.com/prometheus/prometheus module release (v0.3XX.Y is Prometheus 3.XX.Y)
#   E2E_BUILD_JOBS       go build -p (default 2)
#
# The tests find the binaries through the pointer file $cache_root/current (one line: the folder).
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v4.3.2}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
JOBS=${E2E_BUILD_JOBS:-2}
# Bump when the build itself changes, so caches built the old way are rebuilt.
RECIPE=1
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/projected-token-webhook/tools
pointer=$cache_root/current
out=${GO_TOOLS_DIR:-$cache_root/recipe-$RECIPE}

gomodule_log_prefix=go-tools
source "$(dirname "${BASH_SOURCE[0]}")/lib/gomodule.sh"

[[ $HELM_VERSION =~ ^v4\.[0-9]+\.[0-9]+$ ]] || die "HELM_VERSION=$HELM_VERSION is not a v4.<minor>.<patch> release"
[[ $KUSTOMIZE_VERSION =~ ^v5\.[0-9]+\.[0-9]+$ ]] ||
	die "KUSTOMIZE_VERSION=$KUSTOMIZE_VERSION is not a v5.<minor>.<patch> release"
[[ $PROMETHEUS_VERSION =~ ^v0\.3([0-9][0-9])\.([0-9]+)$ ]] ||
	die "PROMETHEUS_VERSION=$PROMETHEUS_VERSION is not a v0.3<minor>.<patch> module release (Prometheus 3.x)"
prometheus_release=3.$((10#${BASH_REMATCH[1]})).${BASH_REMATCH[2]}

# promtool needs no service discovery (it checks rules and configs): remove_all_sd leaves out every SD plugin,
# which are most of Prometheus's dependency tree (cloud SDKs, the Kubernetes client).
promtool_tags=remove_all_sd
declare -A stamps=(
	[helm]="helm=$HELM_VERSION recipe=$RECIPE"
	[kustomize]="kustomize=$KUSTOMIZE_VERSION recipe=$RECIPE"
	[promtool]="prometheus=$PROMETHEUS_VERSION tags=$promtool_tags recipe=$RECIPE"
)
tools=(helm kustomize promtool)

fresh() { # $1 = tool: built by this recipe at this version
	[[ -x $out/$1 && -f $out/.stamp-$1 && $(cat "$out/.stamp-$1") == "${stamps[$1]}" ]]
}

stale=()
for tool in "${tools[@]}"; do fresh "$tool" || stale+=("$tool"); done
if ((${#stale[@]} == 0)); then
	log "reusing ${stamps[*]}"
else
	command -v go >/dev/null || die "go not found: install Go 1.26+"
	mkdir -p "$out"
	build_root=$cache_root/build
	export CGO_ENABLED=0 GOFLAGS=-mod=mod
	build=(nice -n 10 go build -p "$JOBS" -trimpath)
	build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	for tool in "${stale[@]}"; do
		rm -f "$out/.stamp-$tool"
		mod=$build_root/$tool
		# The module zips carry no git metadata: versions come in through ldflags, as upstreams' Makefiles do.
		case $tool in
		helm)
			throwaway_module go-tools-helm helm.sh/helm/v4 "$HELM_VERSION" "$mod"
			v=helm.sh/helm/v4/internal/version
			ldflags="-s -w -X $v.version=$HELM_VERSION -X $v.gitCommit= -X $v.gitTreeState=clean"
			pkg=helm.sh/helm/v4/cmd/helm tags=""
			;;
		kustomize)
			throwaway_module go-tools-kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" "$mod"
			v=sigs.k8s.io/kustomize/api/provenance
			ldflags="-s -w -X $v.version=kustomize/$KUSTOMIZE_VERSION -X $v.buildDate=$build_date"
			pkg=sigs.k8s.io/kustomize/kustomize/v5 tags=""
			;;
		promtool)
			throwaway_module go-tools-promtool github.com/prometheus/prometheus "$PROMETHEUS_VERSION" "$mod"
			v=github.com/prometheus/common/version
			ldflags="-s -w -X $v.Version=$prometheus_release -X $v.Revision= -X $v.Branch="
			ldflags+=" -X $v.BuildUser=projected-token-webhook -X $v.BuildDate=$build_date"
			pkg=github.com/prometheus/prometheus/cmd/promtool tags=$promtool_tags
			;;
		esac
		log "building ${stamps[$tool]} (go build -p $JOBS)"
		# CPU seconds beside the wall clock: on a shared machine only they compare between runs.
		TIMEFORMAT="$gomodule_log_prefix: $tool built in %0R s (CPU %0U s user + %0S s system)"
		time (cd "$mod" && "${build[@]}" -tags "$tags" -ldflags "$ldflags" -o "$out/$tool.new" "$pkg")
		mv "$out/$tool.new" "$out/$tool"
		echo "${stamps[$tool]}" >"$out/.stamp-$tool"
	done
fi

"$out/helm" version --short >&2
"$out/kustomize" version >&2
"$out/promtool" --version 2>&1 | head -1 >&2
publish_pointer "$pointer" "$out"
log "tools ready in $out (pointer: $pointer)"
